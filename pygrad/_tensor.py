"""The C engine's Tensor: a Python object holding one C tensor handle.

The operators and activations are the per-op hot path (see the Architecture
section of README.md and bench/overhead.py): their C functions are bound once,
as closure cells or module globals, and they build their result inline.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence
from typing import Any, Callable

import numpy as np

from pygrad import _copying, _derived, _dlpack, _engines, _indexing, _optable, _recording
from pygrad._args import (
    _NOT_SCALAR,
    KIND,
    _axes_mask,
    _axis_arg,
    _basic_parse,
    _index_offsets,
    _is_scalar,
    _items_maps,
    _items_offsets,
    _real,
    _reduce_args,
    _reduction_arg,
    _resolve_dtype,
    _scalar_kind,
    _select_parse,
    _shape_arg,
)
from pygrad._bindings import (
    _CODE_OF_DTYPE,
    _DTYPE_OF_CODE,
    _NULL,
    _TYPESTR,
    OP_NAMES,
    _check,
    _new_tensor,
    _raise_last,
    _wrap,
    address,
    bool_,
    float32,
    float64,
    int32,
    int64,
    int64_buffer,
    lib,
    set_hook_kinds,
    set_tensor_class,
    tensor_hooks,
    tensor_slot,
)
from pygrad._hooks import RemovableHandle
from pygrad.errors import PygradMemoryError, PygradRuntimeError, PygradTypeError, PygradValueError, ShapeError

# the C functions of the hot methods written out below, bound once
_add_scalar, _sub, _matmul = lib.pg_add_scalar, lib.pg_sub, lib.pg_matmul


def _i64(values: Any, n: int) -> list[int]:
    """A conv parameter as n ints for a C ``int64_t[n]`` (PygradValueError when it has another length)."""
    v = [int(a) for a in (values if isinstance(values, (tuple, list)) else (values,) * n)]
    if len(v) != n:
        raise PygradValueError(f"conv2d: expected {n} values, got {values!r}")
    return v


_INTERP_MODES = {"nearest": lib.PG_INTERP_NEAREST, "linear": lib.PG_INTERP_LINEAR,
                 "nearest-exact": lib.PG_INTERP_NEAREST_EXACT, "cubic": lib.PG_INTERP_CUBIC,
                 "linear-aa": lib.PG_INTERP_LINEAR | lib.PG_INTERP_ANTIALIAS,
                 "cubic-aa": lib.PG_INTERP_CUBIC | lib.PG_INTERP_ANTIALIAS}


def _interp_args(op: str, t: Any, mode: str, size: Any, scale: Any) -> tuple[int, list[int], list[float]]:
    """interpolate's op arguments for C: the mode's code, and one size and scale per spatial dim, padded
    to 4 (pygrad._derived.interp_sizes checks them)."""
    _, sz, sc = _derived.interp_sizes(op, t, _INTERP_MODES, mode, size, scale)
    return _INTERP_MODES[mode], [int(v) for v in sz] + [1, 1], [float(v or 0) for v in sc] + [0.0, 0.0]


def _handle(t: Any) -> Any:
    """A tensor's C handle, NULL for None."""
    return _NULL if t is None else t._p


def _is_one_dim(dim: Any) -> bool:
    """A single int dim (PyTorch's ``max(dim)`` form), not None, a tuple or a bool."""
    return isinstance(dim, (numbers.Integral, np.integer)) and not isinstance(dim, (bool, np.bool_))


def _rsub_float(xp: Any, c: float) -> Any:
    """The handle of c - x for a float c: (-x) + c."""
    n = _wrap(lib.pg_neg(xp))
    return lib.pg_add_scalar(n._p, c)

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


_OPCODE = {"add": lib.PG_OP_ADD, "sub": lib.PG_OP_SUB, "mul": lib.PG_OP_MUL, "div": lib.PG_OP_DIV,
           "pow": lib.PG_OP_POW}


def _scalar_op(self: Tensor, o: Any, cfn: Callable, cfn_scalar: Callable, op: str, reflected: bool) -> Any:
    """The handle of ``self (op) o`` (``o (op) self`` when reflected) for a weak
    scalar o that is not a Python float: numpy scalars, ints, bools (PyTorch's
    rule: a scalar of the tensor's kind or a lower one takes its dtype)."""
    k = _scalar_kind(o)
    if k == 2:
        return cfn_scalar(self._p, float(o))
    if k == 0 and lib.pg_tensor_dtype(self._p) == lib.PG_DTYPE_BOOL:  # bool (op) bool stays bool
        s = _creation.full((), bool(o), dtype=bool_)
        return cfn(s._p, self._p) if reflected else cfn(self._p, s._p)
    try:
        return lib.pg_binary_scalar_int(self._p, _OPCODE[op], int(o), reflected)
    except OverflowError:  # beyond int64: as a float, for float tensors
        if KIND[self.dtype] < 2:
            raise PygradValueError(f"{op}: the scalar {int(o)} does not fit int64") from None
        return cfn_scalar(self._p, float(o))


def _binary_method(name: str, cfn: Callable, cfn_scalar: Callable, reflected: bool, op: str = "") -> Callable:
    """An arithmetic operator: ``cfn`` on two tensors, ``cfn_scalar(self, c)`` for a
    Python float c; ``reflected`` for ``o (op) self`` (then ``cfn_scalar`` computes
    ``c (op) self``: rdiv_scalar, rpow_scalar); ``op`` names it in errors. Ints
    and other scalars take :func:`_scalar_op`."""
    op = op or (name.strip("_").removeprefix("r") if reflected else name.strip("_"))
    opcode = _OPCODE[op]
    scalar_int = lib.pg_binary_scalar_int

    def method(self: Tensor, o: Any) -> Tensor:
        t = type(o)
        if t is Tensor and not reflected:
            p = cfn(self._p, o._p)
        elif t is float:
            p = cfn_scalar(self._p, o)
        elif t is int and -(2**63) <= o < 2**63:
            p = scalar_int(self._p, opcode, o, reflected)
        elif _is_scalar(o):
            p = _scalar_op(self, o, cfn, cfn_scalar, op, reflected)
        else:
            t = _operand(o, op)
            if t is None:
                return NotImplemented
            return _wrap(cfn(t._p, self._p) if reflected else cfn(self._p, t._p))
        if not p:
            _raise_last()
        r = _new_tensor(Tensor)
        r._p = p
        return r

    return _method(name, "", method)


def _tensor_binary(name: str, cfn: Callable, doc: str, operator: bool = False, reflected: bool = False) -> Callable:
    """A binary op without scalar kernels: a weak scalar operand becomes a 0-d tensor
    beside self; an operator returns NotImplemented for types it does not take."""
    op = name.strip("_").removeprefix("r") if reflected else name.strip("_")
    op = {"mod": "remainder", "floordiv": "floor_divide"}.get(op, op)

    def method(self: Tensor, o: Any) -> Tensor:
        t = _as_tensor(o, self, op) if _is_scalar(o) else _operand(o, op)
        if t is None:
            if operator:
                return NotImplemented
            raise PygradTypeError(f"{op}: unsupported operand type {type(o).__name__}; expected a Tensor, a "
                                  "Python scalar or a numpy array")
        return _wrap(cfn(t._p, self._p) if reflected else cfn(self._p, t._p))

    return _method(name, doc, method)


def _bitwise_method(name: str, how: int, reflected: bool) -> Callable:
    """``&``, ``|``, ``^`` of bool and integer tensors (logical for bool)."""

    def method(self: Tensor, o: Any) -> Tensor:
        t = _as_tensor(o, self, name.strip("_")) if _is_scalar(o) else _operand(o, name.strip("_"))
        if t is None:
            return NotImplemented
        return _wrap(lib.pg_bitwise(t._p, self._p, how) if reflected else lib.pg_bitwise(self._p, t._p, how))

    return _method(name, "", method)


class GradFn:
    """What made a non-leaf tensor: ``name`` is the op-table row of the node."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<GradFn {self.name}>"


# Results of at least this many elements of a basic key (ints, slices, None, Ellipsis), or of a 1-d
# integer index selecting whole slices along one dim, record the index_map op, one index vector per
# dim, whose kernel copies runs whole (its backward adds them), rather than getitem, one offset per
# element (the same values and gradients; getitem is cheaper to build for small results)
_MAPPED_MIN = 4096

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
            "data": (address(lib.pg_tensor_data(p)), False),
            "version": 3,
        }

# ---------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------



_grad_cycle_warned: list[bool] = []  # once per process, as PyTorch does


def is_grad_enabled() -> bool:
    return bool(lib.pg_grad_enabled())


def _false_like(x: Tensor) -> Tensor:
    """An all-False bool tensor of x's shape."""
    return _creation.zeros(x.shape, dtype=bool_)


def _grad_arg(t: Tensor, grad: Any, op: str = "backward") -> Tensor:
    """An upstream gradient for t as a Tensor of the C engine."""
    if not isinstance(grad, Tensor) and _engines.is_tensor(grad):
        raise _engines.mix_error(op, t, grad)
    g = grad if isinstance(grad, Tensor) else _creation.tensor(grad, dtype=t.dtype)
    if g.dtype == bool_ and t.dtype != bool_:  # converted like an array, as the reference does
        g = g.astype(t.dtype)
    return g


def _warn_grad_cycle() -> None:
    if not _grad_cycle_warned:
        _grad_cycle_warned.append(True)
        import warnings

        warnings.warn("backward(create_graph=True) added to a .grad that already holds a graph: each leaf's "
                      "recorded .grad refers back to the leaf, a reference cycle that Python's garbage collector "
                      "cannot see, so both are never freed; set x.grad = None after using it, or use "
                      "pygrad.functional.grad", UserWarning, stacklevel=3)

class Tensor:
    """An n-d float32/float64 (or bool) array in C memory that records the ops
    applied to it for reverse-mode differentiation.

    Create tensors with :func:`pygrad.tensor`, :func:`zeros`, :func:`randn`...
    Arithmetic operators accept Tensors, Python numbers and numpy arrays on
    either side and broadcast like numpy. See docs/semantics.md.
    """

    __slots__ = ("_p", "_shape", "__weakref__")
    _engine = _engines.C  # the engine module (see pygrad._engines)
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operator
    __hash__ = object.__hash__

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        src = _creation.tensor(data, dtype, requires_grad)
        lib.pg_tensor_retain(src._p)
        self._p = src._p

    def __del__(self, _release: Callable = lib.pg_tensor_release) -> None:
        # _release is bound at definition: module globals may be gone at shutdown
        try:
            p = self._p
        except AttributeError:  # __init__ failed before taking a handle
            return
        _release(p)

    # ---- copy, deepcopy, pickle (pygrad._copying: one protocol for both engines) ----
    def __copy__(self) -> Tensor:
        return _copying.tensor_copy(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        return _copying.tensor_deepcopy(self, memo)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return _copying.tensor_reduce(self)

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
        """``pygrad.float32``, ``float64``, ``int64``, ``int32`` or ``bool_`` (numpy dtypes)."""
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
        if g == _NULL:
            if _recording.RECORDING:
                _recording.note_no_grad()
            return None
        return _wrap(g)

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
    def backward(self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs: Any = None) -> None:
        """Accumulate d(self)/d(leaf) · grad into ``.grad`` of every leaf that requires grad.

        ``grad`` (the upstream gradient, same shape as self) may be omitted for
        one-element tensors. The graph's saved values are released afterwards
        unless ``retain_graph`` (default: ``create_graph``). With
        ``create_graph=True`` the backward computation is itself recorded: the
        gradients have a ``grad_fn`` and can be differentiated again. As in
        PyTorch, a leaf's recorded ``.grad`` then refers back to the leaf (a
        reference cycle): set ``x.grad = None`` when done with it, or use
        :func:`pygrad.functional.grad`, which does. ``inputs`` (a tensor or a
        sequence of them, leaves or not): accumulate into their ``.grad`` only.
        """
        if inputs is not None:
            from pygrad import autograd

            autograd.backward(self, grad, retain_graph, create_graph, inputs=inputs)
            return
        if grad is None:
            gp = _NULL
        else:
            g = _grad_arg(self, grad)
            gp = g._p
        retain = create_graph if retain_graph is None else retain_graph
        _check(lib.pg_backward_ex(self._p, gp, bool(retain), bool(create_graph)))
        if create_graph and lib.pg_take_grad_graph_chained():
            _warn_grad_cycle()

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` each time this tensor's gradient has been computed.

        For a leaf, ``grad`` is its whole gradient of the sweep, before it is
        accumulated into ``.grad``; for a non-leaf, the gradient that flows on
        to its inputs. A Tensor the hook returns replaces the gradient (same
        shape and dtype). Hooks run in registration order; an exception in one
        propagates out of ``backward()``. Returns a handle: ``handle.remove()``.
        """
        hooks = tensor_hooks(self, True)
        handle = hooks.add(hooks.grad, hook, "register_hook")
        set_hook_kinds(self, hooks)
        return handle

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> RemovableHandle:
        """Call ``hook(tensor)`` after this leaf's ``.grad`` has been accumulated (leaves only)."""
        if not self.is_leaf:
            raise PygradRuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks cannot be "
                                     "registered on non-leaf tensors")
        hooks = tensor_hooks(self, True)
        handle = hooks.add(hooks.post, hook, "register_post_accumulate_grad_hook")
        set_hook_kinds(self, hooks)
        return handle

    def _post_hooks(self) -> Any:
        """This leaf's hooks (for post-accumulate hooks run outside the sweep), or None."""
        return tensor_hooks(self, False) if self.is_leaf else None

    def is_inference(self) -> bool:
        """True for a tensor made under :class:`pygrad.inference_mode`."""
        return bool(lib.pg_tensor_is_inference(self._p))

    def detach_(self) -> Tensor:
        """Detach in place: self becomes a leaf that does not require grad."""
        _check(lib.pg_tensor_detach_(self._p))
        return self

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
        seen by the version counter: writing into a tensor that a live graph
        saved for backward silently changes the gradient (as in PyTorch; see
        docs/semantics.md). Use ``copy_`` and the other in-place ops, which
        are versioned, or write only where no graph has saved the tensor.
        """
        if _recording.RECORDING:
            _recording.refuse("Tensor.numpy() (tensor values read into Python)")
        return self._host_view()

    def _host_view(self) -> np.ndarray:
        """numpy(), without telling pygrad.compile: for the package's own reads whose
        result the recording follows (cross_entropy's labels)."""
        try:
            return np.asarray(_BufferView(self))
        except ValueError as exc:  # an empty tensor whose other dims multiply past numpy's limit
            raise PygradMemoryError(f"numpy: a tensor of shape {self.shape} cannot be viewed by numpy: {exc}") from None

    def __dlpack__(self, stream: Any = None, max_version: tuple[int, int] | None = None,
                   dl_device: tuple[int, int] | None = None, copy: bool | None = None) -> Any:
        """A DLPack capsule over this tensor's storage (zero-copy; ``copy=True`` copies).

        The consumer shares the buffer (writes show both ways) and keeps it
        alive. A tensor that requires grad is refused, as PyTorch does: export
        ``t.detach()``.
        """
        return _dlpack.export(self.numpy(), self.requires_grad, stream, max_version, dl_device, copy)

    def __dlpack_device__(self) -> tuple[int, int]:
        """(1, 0): DLPack's CPU device, device 0."""
        return _dlpack.CPU_DEVICE

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return _dlpack.as_array(self.numpy(), dtype, copy)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number (float, int or bool by dtype)."""
        if _recording.RECORDING:
            _recording.refuse("Tensor.item() (a tensor value read into Python)")
        if self.numel() != 1:
            raise PygradValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.numpy().reshape(-1)[0].item()

    def tolist(self) -> Any:
        """Nested Python lists of the values."""
        if _recording.RECORDING:
            _recording.refuse("Tensor.tolist() (tensor values read into Python)")
        return self.numpy().tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        """A one-element integer (or bool) tensor used as a Python index, as in ``range(t)``."""
        if KIND[self.dtype] == 2:
            raise PygradTypeError(f"index: only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    def __bool__(self) -> bool:
        if _recording.RECORDING:
            _recording.refuse("bool(tensor) (Python control flow on a tensor value)")
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

    def _copy(self) -> Tensor:
        """A copy with its own storage, differentiable (the cast op to its own dtype: one pass, no index)."""
        return _wrap(lib.pg_cast(self._p, _CODE_OF_DTYPE[self.dtype]))

    def float(self) -> Tensor:
        """Cast to float32."""
        return self.astype(float32)

    def double(self) -> Tensor:
        """Cast to float64."""
        return self.astype(float64)

    def long(self) -> Tensor:
        """Cast to int64 (floats truncate toward zero; NaN and out-of-range values give int64's minimum)."""
        return self.astype(int64)

    def int(self) -> Tensor:
        """Cast to int32 (floats truncate toward zero; int64 values wrap)."""
        return self.astype(int32)

    def bool(self) -> Tensor:
        """Cast to bool (nonzero is True)."""
        return self.astype(bool_)

    def is_floating_point(self) -> bool:
        """Whether the dtype is float32 or float64 (the dtypes that can require grad)."""
        return KIND[self.dtype] == 2

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
        elif t is float:  # x - c = x + (-c)
            p = _add_scalar(self._p, -o)
        elif _is_scalar(o):
            p = _scalar_op(self, o, _sub, lambda x, c: _add_scalar(x, -c), "sub", False)
        else:
            t = _operand(o, "sub")
            return NotImplemented if t is None else _wrap(_sub(self._p, t._p))
        if not p:
            _raise_last()
        r = _new_tensor(Tensor)
        r._p = p
        return r

    def __rsub__(self, o: Any) -> Tensor:
        if type(o) is float:  # c - x = (-x) + c
            n = _wrap(lib.pg_neg(self._p))
            return _wrap(lib.pg_add_scalar(n._p, o))
        if _is_scalar(o):
            return _wrap(_scalar_op(self, o, _sub, _rsub_float, "sub", True))
        t = _operand(o, "sub")
        return NotImplemented if t is None else _wrap(lib.pg_sub(t._p, self._p))

    __mul__ = _binary_method("__mul__", lib.pg_mul, lib.pg_mul_scalar, reflected=False)
    __rmul__ = _binary_method("__rmul__", lib.pg_mul, lib.pg_mul_scalar, reflected=True)

    # x / c, c / x and c ** x are ops of their own (div_scalar, rdiv_scalar, rpow_scalar):
    # x * (1/c) rounds twice and overflows for a tiny c, exp(x log c) is off by ulps.
    __truediv__ = _binary_method("__truediv__", lib.pg_div, lib.pg_div_scalar, reflected=False, op="div")
    __rtruediv__ = _binary_method("__rtruediv__", lib.pg_div, lib.pg_rdiv_scalar, reflected=True, op="div")
    __pow__ = _binary_method("__pow__", lib.pg_pow, lib.pg_pow_scalar, reflected=False)
    __rpow__ = _binary_method("__rpow__", lib.pg_pow, lib.pg_rpow_scalar, reflected=True)

    def __matmul__(self, o: Any) -> Tensor:
        if type(o) is not Tensor:
            t = _operand(o, "matmul")
            return NotImplemented if t is None else _wrap(_matmul(self._p, t._p))
        p = _matmul(self._p, o._p)
        if not p:
            _raise_last()
        r = _new_tensor(Tensor)
        r._p = p
        return r

    def __rmatmul__(self, o: Any) -> Tensor:
        t = _operand(o, "matmul")
        return NotImplemented if t is None else _wrap(lib.pg_matmul(t._p, self._p))

    # ---- atan2, fmod, remainder (%), floor_divide (//): scalars are weak 0-d tensors ----
    atan2 = _tensor_binary("atan2", lib.pg_atan2, "atan2(self, other), the angle of the point (other, self).")
    fmod = _tensor_binary("fmod", lib.pg_fmod, "C's fmod: self - trunc(self / other)·other, the sign of self.")
    remainder = _tensor_binary("remainder", lib.pg_remainder,
                               "Python's %: self - floor(self / other)·other, the sign of other.")
    floor_divide = _tensor_binary("floor_divide", lib.pg_floor_divide, "Python's //: floor(self / other) "
                                  "(zero gradient).")
    __mod__ = _tensor_binary("__mod__", lib.pg_remainder, "", operator=True)
    __rmod__ = _tensor_binary("__rmod__", lib.pg_remainder, "", operator=True, reflected=True)
    __floordiv__ = _tensor_binary("__floordiv__", lib.pg_floor_divide, "", operator=True)
    __rfloordiv__ = _tensor_binary("__rfloordiv__", lib.pg_floor_divide, "", operator=True, reflected=True)

    # ---- bitwise and logical: bool and integer tensors, no graph ----
    __and__ = _bitwise_method("__and__", lib.PG_BIT_AND, reflected=False)
    __rand__ = _bitwise_method("__rand__", lib.PG_BIT_AND, reflected=True)
    __or__ = _bitwise_method("__or__", lib.PG_BIT_OR, reflected=False)
    __ror__ = _bitwise_method("__ror__", lib.PG_BIT_OR, reflected=True)
    __xor__ = _bitwise_method("__xor__", lib.PG_BIT_XOR, reflected=False)
    __rxor__ = _bitwise_method("__rxor__", lib.PG_BIT_XOR, reflected=True)

    def __invert__(self) -> Tensor:
        """``~x``: logical not of a bool tensor, bitwise not of an integer one."""
        return _wrap(lib.pg_bitwise_not(self._p))

    def __neg__(self) -> Tensor:
        return _wrap(lib.pg_neg(self._p))

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _wrap(lib.pg_abs(self._p))

    # ---- comparisons: bool tensors, no graph ----
    def _cmp(self, o: Any, how: str) -> Tensor:
        if _is_scalar(o):
            if _scalar_kind(o) == 1 and KIND[self.dtype] == 1:  # exactly, also beyond 2^53
                info = np.iinfo(self.dtype)
                if info.min <= o <= info.max:
                    s = _creation.full((), int(o), dtype=self.dtype)
                    return _wrap(lib.pg_compare(self._p, s._p, _CMP[how]))
            return _wrap(lib.pg_compare_scalar(self._p, float(o), _CMP[how]))
        t = _operand(o, "compare")
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
        """Copy ``src``'s values into self, in place (cast to self's dtype).

        Recorded when grad mode is on and ``src`` or self (a non-leaf) requires
        grad: ``src`` (broadcast to self's shape) then receives self's gradient.
        Unrecorded, ``src`` may have any shape of the same number of elements.
        """
        t = _as_tensor(src, self, "copy_")
        if is_grad_enabled() and (t.requires_grad or self.requires_grad):
            return self._inplace("copy_", lambda x: _where(_false_like(x), x, t), t)
        _check(lib.pg_copy_(self._p, t._p))
        return self

    def _inplace(self, op: str, fn: Callable[[Tensor], Tensor], *operands: Any) -> Tensor:
        """self = fn(self), in place (``pg_inplace_begin`` / ``pg_inplace_commit``): recorded
        when grad mode is on and self or an operand requires grad."""
        rg = any(isinstance(o, Tensor) and o.requires_grad for o in operands)
        name = op.encode()
        x = _wrap(lib.pg_inplace_begin(self._p, rg, name))
        out = fn(x)
        _check(lib.pg_inplace_commit(self._p, out._p, name))
        return self

    def exp_(self) -> Tensor:
        """In place: self = exp(self)."""
        return self._inplace("exp_", lambda x: x.exp())

    def relu_(self) -> Tensor:
        """In place: self = max(self, 0)."""
        return self._inplace("relu_", lambda x: x.relu())

    def sigmoid_(self) -> Tensor:
        """In place: self = 1 / (1 + exp(-self))."""
        return self._inplace("sigmoid_", lambda x: x.sigmoid())

    def tanh_(self) -> Tensor:
        """In place: self = tanh(self)."""
        return self._inplace("tanh_", lambda x: x.tanh())

    def neg_(self) -> Tensor:
        """In place: self = -self."""
        return self._inplace("neg_", lambda x: -x)

    def abs_(self) -> Tensor:
        """In place: self = |self|."""
        return self._inplace("abs_", lambda x: x.abs())

    def sqrt_(self) -> Tensor:
        """In place: self = √self."""
        return self._inplace("sqrt_", lambda x: x.sqrt())

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """In place: self = clamp(self, min, max)."""
        return self._inplace("clamp_", lambda x: x.clamp(min, max))

    def div_(self, o: Any) -> Tensor:
        """In place: self = self / o."""
        t = None if _is_scalar(o) else _as_tensor(o, self, "div_")
        return self._inplace("div_", lambda x: x / (o if t is None else t), t)

    def pow_(self, p: Any) -> Tensor:
        """In place: self = self ** p."""
        t = None if _is_scalar(p) else _as_tensor(p, self, "pow_")
        return self._inplace("pow_", lambda x: x ** (p if t is None else t), t)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """In place: self = value where ``mask`` (a bool tensor broadcasting to self's shape), else self."""
        m = mask if isinstance(mask, Tensor) else _as_tensor(mask, None, "masked_fill_")
        if m.dtype != bool_:
            raise PygradTypeError(f"masked_fill_: expected a bool mask, got {m.dtype}")
        v = value if isinstance(value, Tensor) else _as_tensor(_real("masked_fill_", "value", value), self,
                                                                "masked_fill_")
        if v.ndim != 0:
            raise PygradValueError(f"masked_fill_: value must be a number or a 0-d tensor, got shape {v.shape}")
        return self._inplace("masked_fill_", lambda x: _where(m, v.astype(x.dtype), x), v)

    def __iadd__(self, o: Any) -> Tensor:
        if type(o) is Tensor:
            _check(lib.pg_add_(self._p, o._p, 1.0))
            return self
        return self.add_(o) if _is_scalar(o) or _operand(o, "add_") is not None else NotImplemented

    def __isub__(self, o: Any) -> Tensor:
        if type(o) is Tensor:
            _check(lib.pg_add_(self._p, o._p, -1.0))
            return self
        return self.sub_(o) if _is_scalar(o) or _operand(o, "sub_") is not None else NotImplemented

    def __imul__(self, o: Any) -> Tensor:
        return self.mul_(o) if _is_scalar(o) or _operand(o, "mul_") is not None else NotImplemented

    # ---- elementwise (the plain ones, exp, log, sin ..., are built from the op table below) ----
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

    def _hardtanh(self, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
        """The hardtanh op: min(max(x, min_val), max_val), the gradient strictly inside (PyTorch's
        hardtanh); nn.functional.hardtanh and relu6 apply it."""
        return _wrap(lib.pg_hardtanh(self._p, _real("hardtanh", "min_val", min_val),
                                     _real("hardtanh", "max_val", max_val)))

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

    def max(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
        """With one int ``dim`` (PyTorch's ``max(dim)``): ``(values, indices)`` of the first
        maximum, whose gradient goes to that element. Otherwise (``dim``/``axis`` None or a
        tuple, or the numpy spellings ``axis=``/``keepdims=``) the maximum over those dims,
        values only, ties sharing the gradient equally."""
        if axis is None and keepdims is None and _is_one_dim(dim):
            return _indexing.extreme_over_dim(self, dim, keepdim, True)
        axis, keepdims = _reduce_args("max", axis, bool(keepdims), dim, keepdim if keepdims is None else None)
        return _wrap(lib.pg_max(self._p, _axes_mask("max", axis, self), keepdims))

    def min(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None) -> Any:
        """With one int ``dim``: ``(values, indices)`` of the first minimum; otherwise the minimum
        over ``axis``/``dim`` (None: all; a tuple), values only, ties sharing the gradient equally."""
        if axis is None and keepdims is None and _is_one_dim(dim):
            return _indexing.extreme_over_dim(self, dim, keepdim, False)
        axis, keepdims = _reduce_args("min", axis, bool(keepdims), dim, keepdim if keepdims is None else None)
        return _wrap(lib.pg_min(self._p, _axes_mask("min", axis, self), keepdims))

    # ---- index primitives (pygrad._indexing builds argmax, sort, topk ... on them) ----
    def _argext(self, dim: int, keepdim: bool, want_max: bool) -> Tensor:
        return _wrap(lib.pg_argext(self._p, dim, keepdim, want_max))

    def _argsort(self, dim: int, descending: bool) -> Tensor:
        return _wrap(lib.pg_argsort(self._p, dim, descending))

    def _topk_indices(self, dim: int, k: int, largest: bool) -> Tensor:
        return _wrap(lib.pg_topk_indices(self._p, dim, k, largest))

    def _cumext_indices(self, dim: int, want_max: bool) -> Tensor:
        return _wrap(lib.pg_cumext_indices(self._p, dim, want_max))

    def _nonzero(self) -> Tensor:
        return _wrap(lib.pg_nonzero(self._p))

    def gather(self, dim: int, index: Any) -> Tensor:
        """``out[i][j][k] = self[i][index[i][j][k]][k]`` for dim 1 (any dim alike), PyTorch's
        gather: index (int64/int32) has self's ndim and is no larger except along dim."""
        idx = _indexing._index_tensor("gather", self, index)
        return _wrap(lib.pg_gather_dim(self._p, _indexing._dim("gather", dim, self), idx._p))

    def scatter(self, dim: int, index: Any, src: Any = None, *, value: Any = None) -> Tensor:
        """Out of place: ``self`` with ``src`` (a tensor, or a number) written at ``index`` along
        ``dim`` (PyTorch's scatter); for a repeated position the last write in index's order wins."""
        return self._scatter("scatter", dim, index, value if src is None else src, lib.pg_scatter_dim)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        """Out of place: ``self`` with ``src`` added at ``index`` along ``dim`` (repeats add)."""
        return self._scatter("scatter_add", dim, index, src, lib.pg_scatter_add_dim)

    def _scatter(self, op: str, dim: Any, index: Any, src: Any, cfn: Callable) -> Tensor:
        idx = _indexing._index_tensor(op, self, index)
        if src is None:
            raise PygradTypeError(f"{op}: give src (a tensor) or value (a number)")
        s = src if isinstance(src, Tensor) else (
            _creation.full(idx.shape, src, dtype=self.dtype) if _is_scalar(src) else _as_tensor(src, self, op))
        return _wrap(cfn(self._p, _indexing._dim(op, dim, self), idx._p, s._p))
    def _norm2(self, axes: tuple[int, ...], keepdim: bool) -> Tensor:
        """The norm op, √Σ x² over checked ``axes`` (Tensor.norm checks its arguments)."""
        mask = 0
        for a in axes:
            mask |= 1 << a
        return _wrap(lib.pg_norm(self._p, mask, keepdim))

    def _logsumexp(self, axes: tuple[int, ...], keepdim: bool) -> Tensor:
        """The logsumexp op over checked ``axes`` (Tensor.logsumexp checks its arguments)."""
        mask = 0
        for a in axes:
            mask |= 1 << a
        return _wrap(lib.pg_logsumexp(self._p, mask, keepdim))

    def _index_map(self, maps: Any) -> Tensor:
        """The index_map op: ``y[i, j, ...] = x[maps[0][i], maps[1][j], ...]`` (checked by pygrad._derived)."""
        ms = [np.asarray(m, dtype=np.int64).reshape(-1) for m in maps]
        flat = np.concatenate(ms) if ms else np.zeros(0, dtype=np.int64)
        return _wrap(lib.pg_index_map(self._p, len(ms), [m.size for m in ms], int64_buffer(flat)))

    def _pad(self, lo: Sequence[int], hi: Sequence[int], value: float) -> Tensor:
        """The pad op: ``lo[d]``, ``hi[d]`` elements of ``value`` before and after each dim (negative: crop;
        checked by pygrad._derived)."""
        return _wrap(lib.pg_pad(self._p, [int(v) for v in lo], [int(v) for v in hi], float(value)))

    def _tri(self, k: int, upper: bool) -> Tensor:
        """The tril (triu if ``upper``) op with diagonal ``k`` (checked by pygrad._derived)."""
        return _wrap((lib.pg_triu if upper else lib.pg_tril)(self._p, int(k)))

    def _cumprod(self, axis: int) -> Tensor:
        """The cumprod op along a checked ``axis`` (pygrad._derived checks its arguments)."""
        return _wrap(lib.pg_cumprod(self._p, axis))

    def _take_flat(self, off: np.ndarray) -> Tensor:
        """The getitem op with computed flat offsets: ``y[i] = x.flat[off[i]]`` (offsets checked in C),
        recorded on ``x.reshape(-1)`` as the reference engine records it."""
        flat = self.reshape(-1)
        return _wrap(lib.pg_gather(flat._p, off.ndim, list(off.shape), int64_buffer(off)))

    def _conv2d(self, weight: Tensor, stride: Any, padding: Any, dilation: Any, groups: int) -> Tensor:
        """The conv2d op without bias, its arguments normalised (pygrad.nn.functional.conv2d checks them):
        stride and dilation (h, w), padding (top, bottom, left, right)."""
        return _wrap(lib.pg_conv2d(self._p, weight._p, _i64(stride, 2), _i64(padding, 4), _i64(dilation, 2),
                                   int(groups)))

    def _conv2d_input_grad(self, weight: Tensor, input_size: Any, stride: Any, padding: Any, dilation: Any,
                           groups: int) -> Tensor:
        """The gradient of conv2d w.r.t. its input (self: the output's gradient), for an input (H, W)."""
        return _wrap(lib.pg_conv2d_input_grad(self._p, weight._p, _i64(input_size, 2), _i64(stride, 2),
                                              _i64(padding, 4), _i64(dilation, 2), int(groups)))

    def _conv2d_weight_grad(self, grad: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                            groups: int) -> Tensor:
        """The gradient of conv2d w.r.t. its weight (self: the input), for a kernel (KH, KW)."""
        return _wrap(lib.pg_conv2d_weight_grad(self._p, grad._p, _i64(kernel_size, 2), _i64(stride, 2),
                                               _i64(padding, 4), _i64(dilation, 2), int(groups)))

    def _batch_norm(self, running_mean: Any, running_var: Any, weight: Any, bias: Any, training: bool,
                    momentum: float, eps: float) -> Tensor:
        """The batch_norm op (pygrad.nn.functional.batch_norm checks its arguments); None: not given."""
        return _wrap(lib.pg_batch_norm(self._p, _handle(running_mean), _handle(running_var), _handle(weight),
                                       _handle(bias), bool(training), float(momentum), float(eps)))

    def _layer_norm(self, normalized_shape: Any, weight: Any, bias: Any, eps: float) -> Tensor:
        """The layer_norm op over the last len(normalized_shape) dims (checked by its functional)."""
        shape = [int(d) for d in normalized_shape]
        return _wrap(lib.pg_layer_norm(self._p, len(shape), shape, _handle(weight), _handle(bias), float(eps)))

    def _group_norm(self, num_groups: int, weight: Any, bias: Any, eps: float) -> Tensor:
        """The group_norm op (checked by its functional)."""
        return _wrap(lib.pg_group_norm(self._p, int(num_groups), _handle(weight), _handle(bias), float(eps)))

    def _dropout(self, p: float, generator: Any = None, inplace: bool = False) -> Tensor:
        """The dropout op with a fresh seed from ``generator`` or the generator behind manual_seed."""
        seed = _creation._draw_seed(generator)
        if _recording.RECORDING:  # pygrad.compile: a replay draws a new seed from the same generator
            _recording.note_seed(generator)
        return self._dropout_inplace(p, seed) if inplace else self._dropout_seeded(p, seed)

    def _dropout_seeded(self, p: float, seed: int) -> Tensor:
        """The dropout op with the mask of ``seed``: y = x · keep(seed) / (1 - p)."""
        return _wrap(lib.pg_dropout(self._p, float(p), int(seed)))

    def _dropout_inplace(self, p: float, seed: int) -> Tensor:
        """self = dropout(self) with the mask of ``seed``, in place (recorded)."""
        return self._inplace("dropout_", lambda x: x._dropout_seeded(p, seed))

    def _bernoulli(self, generator: Any = None) -> Tensor:
        """The bernoulli op over self's probabilities with a fresh seed, drawn as :meth:`_dropout` draws one."""
        seed = _creation._draw_seed(generator, "bernoulli")
        if _recording.RECORDING:  # pygrad.compile: a replay draws a new seed from the same generator
            _recording.note_seed(generator)
        return self._bernoulli_seeded(seed)

    def _bernoulli_seeded(self, seed: int) -> Tensor:
        """y[i] = 1 if u(seed, i) < self[i] else 0 (self: probabilities in [0, 1]); never requires grad."""
        return _wrap(lib.pg_bernoulli(self._p, int(seed)))

    def _random_like(self, kind: str, seed: int) -> Tensor:
        """rand (``kind`` "uniform") or randn ("normal") values of ``seed`` in self's shape and dtype."""
        return _creation._random_seeded(kind, self.shape, self.dtype, seed)

    def _embedding(self, indices: Any, padding_idx: int = -1, scale_grad_by_freq: bool = False) -> Tensor:
        """The embedding op: rows of self (V, D) at integer ``indices`` (any shape: a tensor, an array);
        padding_idx -1: none; scale_grad_by_freq: row v's gradient divided by the count of v in
        ``indices``. A contiguous int64 tensor is read in place, so a compiled step follows it."""
        idx = _int64_operand("embedding", "indices", indices)
        return _wrap(lib.pg_embedding(self._p, idx.ndim, list(idx.shape), int64_buffer(idx.reshape(-1)),
                                      int(padding_idx), bool(scale_grad_by_freq)))

    def _embedding_renorm_(self, indices: Tensor, max_norm: float, norm_type: float = 2.0) -> Tensor:
        """PyTorch's ``embedding_renorm_``, in place on self (V, D) and outside the graph: each distinct
        row v of the int64 tensor ``indices`` whose ``norm_type``-norm n exceeds ``max_norm`` is multiplied
        by max_norm / (n + 1e-7) (one C call, csrc/ops_embedding.c; a compiled step replays it on the
        indices' values of each run)."""
        if not isinstance(indices, Tensor):
            raise PygradTypeError(f"embedding_renorm_: indices must be an int64 tensor, got {type(indices).__name__}")
        _check(lib.pg_embedding_renorm_(self._p, indices._p, float(max_norm), float(norm_type)))
        return self

    def _nll_loss(self, labels: Any, weight: Tensor, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0, op: str = "nll_loss") -> Tensor:
        """The nll_loss op over log-probabilities self (N, C) at N integer ``labels`` (1-d), class
        ``weight`` (C,) of self's dtype or 0-d (none, all 1; never differentiated), rows labelled
        ``ignore_index`` left out, label smoothing in [0, 1]: L_i = -(1 - ε) w_yᵢ x_i,yᵢ - (ε / C) Σ_j w_j x_ij,
        reduced by "mean" (over Σ w_yᵢ of the rows kept), "sum" or "none"; ``op`` names it in messages
        ("cross_entropy" for F.cross_entropy's). An int64 tensor of labels is read in place, so a
        compiled step follows it; the op checks their range at each run."""
        r = _reduction_arg(op, reduction)
        y = _int64_operand(op, "labels", labels)
        if y.ndim != 1:
            raise ShapeError(f"{op}: labels must be 1-d (one class index per row), got shape {y.shape}")
        w = _as_tensor(weight, self, op)
        return _wrap(lib.pg_nll_loss(self._p, w._p, int64_buffer(y), y.size, r,
                                     int(min(max(int(ignore_index), -(2**63)), 2**63 - 1)), float(label_smoothing),
                                     op == "cross_entropy"))

    def _one_hot(self, num_classes: int) -> Tensor:
        """The one_hot op: int64 of shape self.shape + (num_classes,), 1 at each label of self (an int64
        or int32 tensor), 0 elsewhere. The op reads the labels from this tensor (so a compiled step
        follows them) and checks them against [0, num_classes) at each run."""
        return _wrap(lib.pg_one_hot(self._p, min(max(int(num_classes), -1), 2**63 - 1)))

    def _huber_loss(self, target: Any, reduction: str = "mean", delta: float = 1.0,
                    smooth_l1: bool = False) -> Tensor:
        """The huber_loss op of self and ``target`` (self's shape and dtype), fused with its reduction:
        PyTorch's huber_loss(delta), or its smooth_l1_loss with beta = ``delta`` (``smooth_l1``)."""
        op = "smooth_l1_loss" if smooth_l1 else "huber_loss"
        r = _reduction_arg(op, reduction)
        t = _as_tensor(target, self, op)
        d = _real(op, "beta" if smooth_l1 else "delta", delta)
        return _wrap(lib.pg_huber_loss(self._p, t._p, r, d, bool(smooth_l1)))

    def _check_finite_norm(self, norm_type: float) -> Tensor:
        """The check_finite_norm op: self (a total norm of order ``norm_type``), refused with
        RuntimeError, at each run (a compiled step's included), when it holds a NaN or an infinity
        (clip_grad_norm_'s error_if_nonfinite)."""
        return _wrap(lib.pg_check_finite_norm(self._p, float(norm_type)))

    def _binary_cross_entropy(self, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:
        """The binary_cross_entropy op of probabilities self and ``target`` (self's shape and dtype), each
        loss times ``weight`` (self's dtype, broadcasting to self's shape; None: none): PyTorch's
        ℓ = w((t - 1) max(log(1 - p), -100) - t max(log p, -100)), reduced by "mean", "sum" or "none". The
        op checks that self holds probabilities in [0, 1] at each run."""
        r = _reduction_arg("binary_cross_entropy", reduction)
        t = _as_tensor(target, self, "binary_cross_entropy")
        w = None if weight is None else _as_tensor(weight, self, "binary_cross_entropy")
        return _wrap(lib.pg_binary_cross_entropy(self._p, t._p, _NULL if w is None else w._p, r))

    def _sdpa(self, key: Tensor, value: Tensor, bias: Tensor, scale: float, is_causal: bool,
              dropout_p: float = 0.0, seed: int = 0) -> Tensor:
        """The scaled_dot_product_attention op: softmax(scale · self keyᵀ + bias) value (bias (batch..., L, S)
        or 0-d; pygrad.nn.functional.scaled_dot_product_attention prepares it); dropout_p > 0 drops weights
        with dropout's mask of ``seed`` over the (batch..., L, S) weights."""
        return _wrap(lib.pg_scaled_dot_product_attention(self._p, key._p, value._p, bias._p, float(scale),
                                                         bool(is_causal), float(dropout_p), int(seed)))

    def _sdpa_dropout(self, key: Tensor, value: Tensor, bias: Tensor, scale: float, is_causal: bool,
                      dropout_p: float, generator: Any = None) -> Tensor:
        """:meth:`_sdpa` with dropout, its seed drawn as :meth:`_dropout` draws one."""
        seed = _creation._draw_seed(generator)
        if _recording.RECORDING:  # pygrad.compile: a replay draws a new seed from the same generator
            _recording.note_seed(generator)
        return self._sdpa(key, value, bias, scale, is_causal, dropout_p, seed)

    def _max_pool2d(self, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                    return_indices: bool = False) -> Any:
        """The max_pool2d op on (N, C, H, W), its arguments pairs (pygrad.nn.functional.max_pool2d checks
        them); with return_indices also the int64 flat index in the H x W plane of each maximum."""
        slot = tensor_slot() if return_indices else _NULL
        y = _wrap(lib.pg_max_pool2d(self._p, _i64(kernel_size, 2), _i64(stride, 2), _i64(padding, 2),
                                    _i64(dilation, 2), bool(ceil_mode), slot))
        return (y, _wrap(slot[0])) if return_indices else y

    def _avg_pool2d(self, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool, count_include_pad: bool,
                    divisor_override: int) -> Tensor:
        """The avg_pool2d op on (N, C, H, W) (divisor_override 0: none)."""
        return _wrap(lib.pg_avg_pool2d(self._p, _i64(kernel_size, 2), _i64(stride, 2), _i64(padding, 2),
                                       bool(ceil_mode), bool(count_include_pad), int(divisor_override)))

    def _adaptive_avg_pool2d(self, output_size: Any) -> Tensor:
        """The adaptive_avg_pool2d op on (N, C, H, W) to output_size (OH, OW)."""
        return _wrap(lib.pg_adaptive_avg_pool2d(self._p, _i64(output_size, 2)))

    def _avg_pool2d_input_grad(self, input_size: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
                               count_include_pad: bool, divisor_override: int) -> Tensor:
        """The gradient of avg_pool2d w.r.t. its input (H, W) (self: the output's gradient)."""
        return _wrap(lib.pg_avg_pool2d_input_grad(self._p, _i64(input_size, 2), _i64(kernel_size, 2),
                                                  _i64(stride, 2), _i64(padding, 2), bool(ceil_mode),
                                                  bool(count_include_pad), int(divisor_override)))

    def _adaptive_avg_pool2d_input_grad(self, input_size: Any) -> Tensor:
        """The gradient of adaptive_avg_pool2d w.r.t. its input (H, W) (self: the output's gradient)."""
        return _wrap(lib.pg_adaptive_avg_pool2d_input_grad(self._p, _i64(input_size, 2)))

    def _interpolate(self, mode: str, size: Any, scale: Any = None, align_corners: bool = False) -> Tensor:
        """The interpolate op: (N, C, L) or (N, C, H, W) resampled to the spatial ``size`` (one int per
        spatial dim); ``mode`` 'nearest', 'nearest-exact' or 'linear' (bilinear on a 4-d input); ``scale``
        the scale factors kept for the source maps (None or 0: from the sizes)
        (pygrad.nn.functional.interpolate checks its arguments and computes the sizes)."""
        m, sz, sc = _interp_args("interpolate", self, mode, size, scale)
        return _wrap(lib.pg_interpolate(self._p, m, sz, sc, bool(align_corners)))

    def _interpolate_input_grad(self, mode: str, input_size: Any, scale: Any = None,
                                align_corners: bool = False) -> Tensor:
        """The gradient of interpolate w.r.t. an input of spatial ``input_size`` (self: the output's
        gradient); the transposed resampling, a scatter-add."""
        m, sz, sc = _interp_args("interpolate_input_grad", self, mode, input_size, scale)
        return _wrap(lib.pg_interpolate_input_grad(self._p, m, sz, sc, bool(align_corners)))

    def _cumsum(self, axis: int, reverse: bool = False) -> Tensor:
        """The cumsum op along a checked ``axis`` (Tensor.cumsum checks its arguments)."""
        return _wrap(lib.pg_cumsum(self._p, axis, reverse))

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
        big = self.numel() >= _MAPPED_MIN
        sel = _select_parse(self.shape, key) if big else None
        if sel is not None and sel[1].size * (self.numel() // self.shape[sel[0]]) >= _MAPPED_MIN:
            d, idx = sel  # whole slices along d (index_select, x[idx]): index_map copies them as rows
            return self._index_map([idx if i == d else np.arange(s, dtype=np.int64) for i, s in enumerate(self.shape)])
        items = _basic_parse(self.shape, key) if big else None
        if items is not None:  # a basic key into a large tensor: the index_map op for a large result
            maps, shape = _items_maps(self.shape, items)
            if math.prod(shape) >= _MAPPED_MIN:
                y = self._index_map(maps)
                return y if y.shape == shape else y.reshape(shape)
            off = _items_offsets(self.shape, items)
        else:
            off = _index_offsets(self.shape, key)
        return _wrap(lib.pg_gather(self._p, off.ndim, list(off.shape), int64_buffer(off)))

    def __setitem__(self, key: Any, value: Any) -> None:
        """``self[key] = value`` for every key ``__getitem__`` takes, value (a number, array or
        tensor) broadcast to ``self[key]``'s shape; for a position the key repeats, the last
        write wins. In place and versioned: recorded like the other in-place updates, so it
        is differentiable in ``value`` and in the untouched part of ``self``."""
        off = _index_offsets(self.shape, key)
        v = _as_tensor(value, self, "setitem") if (_is_scalar(value) or not isinstance(value, Tensor)) else value
        try:
            shape = np.broadcast_shapes(tuple(v.shape), off.shape)
        except ValueError:
            shape = None
        if shape != off.shape:
            raise ShapeError(f"setitem: a value of shape {tuple(v.shape)} cannot be broadcast to the indexed shape "
                             f"{off.shape}")
        flat = off.reshape(-1)
        if KIND[self.dtype] < 2:  # integer and bool tensors: never in a graph, written directly
            self.numpy().reshape(-1)[flat] = np.broadcast_to(v.numpy(), off.shape).reshape(-1)
            return
        last = np.full(self.numel(), -1, dtype=np.int64)
        last[flat] = np.arange(flat.size)
        keep = np.nonzero(last[flat] == np.arange(flat.size))[0]  # the last write to each position
        mask = np.zeros(self.numel(), dtype=bool)
        mask[flat[keep]] = True
        m = _creation.tensor(mask.reshape(self.shape))
        dims = list(self.shape)
        koff = np.ascontiguousarray(flat[keep], dtype=np.int64)

        def write(x: Tensor) -> Tensor:
            vb = (v.astype(x.dtype) if v.dtype != x.dtype else v)
            vb = vb if tuple(vb.shape) == off.shape else vb.broadcast_to(off.shape)
            sel = vb.reshape(-1)[_creation.tensor(keep)]
            s = _wrap(lib.pg_scatter_add(sel._p, len(dims), dims, int64_buffer(koff)))
            return _where(m, s, x)

        self._inplace("setitem", write, v)


_indexing.install(Tensor)  # argmax, sort, topk, any, nonzero ...: written once for both engines

for _op in _optable.ELEMENTWISE:  # Tensor.exp, Tensor.sin ...: one C call each
    setattr(Tensor, _op.name, _unary_method(_op.name, getattr(lib, f"pg_{_op.name}"), _op.doc))

_derived.install(Tensor)  # squeeze, flip, var, norm ...: written once for both engines
set_tensor_class(Tensor)
_NOT_SCALAR.add(Tensor)


def _int64_operand(op: str, what: str, values: Any) -> np.ndarray:
    """Integer ``values`` (a tensor or an array) as a C-contiguous int64 array for an op that reads
    them through a pointer (embedding's indices, the losses' labels). A contiguous int64 tensor gives
    its own buffer, which pygrad.compile follows (the program reads that tensor at each run); anything
    else is a copy, whose values a recording would freeze: it refuses the recording."""
    if (_recording.RECORDING and isinstance(values, Tensor) and values.dtype.kind in "iu"
            and values.dtype != np.int64):
        values = values.long()  # a recorded cast (int32 indices, say): the program follows its result
    arr = values._host_view() if isinstance(values, Tensor) else np.asarray(values)
    out = np.asarray(arr, dtype=np.int64, order="C")
    if _recording.RECORDING and out.size:
        followed = isinstance(values, Tensor) and out.ctypes.data == address(lib.pg_tensor_data(values._p))
        if not followed:
            _recording.refuse(f"{op} {what} that are not an int64 tensor (their values would be frozen)")
    return out


def _where(cond: Tensor, x: Tensor, y: Tensor) -> Tensor:
    return _wrap(lib.pg_where(cond._p, x._p, y._p))


def _as_tensor(x: Any, like: Tensor | None = None, op: str = "tensor") -> Tensor:
    """Tensors pass through; Python and numpy scalars are weak (they take ``like``'s
    dtype when of its kind or a lower one); numpy arrays go through :func:`tensor`.
    Anything else (lists included, as in the reference engine) raises TypeError."""
    if isinstance(x, Tensor):
        return x
    if _is_scalar(x):  # weak: the tensor's dtype when x is of its kind or a lower one
        k = _scalar_kind(x)
        dt = like.dtype if like is not None and k <= KIND[like.dtype] else (bool_, int64, float32)[k]
        if k == 2:
            x = _real(op, "a scalar operand", x)
        return _creation.full((), x, dtype=dt)
    if isinstance(x, (np.ndarray, np.generic)):
        return _creation.tensor(x)
    if _engines.is_tensor(x):
        raise _engines.mix_error(op, _engines.C, x)
    raise PygradTypeError(f"{op}: unsupported operand type {type(x).__name__}; "
                          "expected a Tensor, a Python scalar or a numpy array")


def _operand(x: Any, op: str = "tensor") -> Tensor | None:
    """The tensor for a non-scalar operator operand (Tensors and numpy arrays or
    scalars), or None for types operators do not take (lists, strings...).
    A tensor of the reference engine raises the engines' mix error."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, np.generic)):
        return _creation.tensor(x)
    if _engines.is_tensor(x):
        raise _engines.mix_error(op, _engines.C, x)
    return None


# Tensor() and the operand conversions above make tensors with pygrad._creation,
# which imports this module: bound here, after Tensor exists.
from pygrad import _creation  # noqa: E402
