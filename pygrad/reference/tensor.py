"""The reference ``Tensor``: a numpy array plus the autograd bookkeeping.

This module holds the Tensor class, conversion of user data into tensors,
the dtype rules, argument checking with pygrad's error types, and
``_apply``, which runs one op of the table in ``ops.py`` and records it
when grad mode is on and an input requires grad. The public functions in
``functional.py`` and the Tensor methods both go through the private
helpers defined here, so each rule is written once.

Dtype rules (docs/semantics.md), PyTorch's: tensors hold float32, float64,
int64, int32 or bool; operands meet in the higher kind (bool < integer <
float), within a kind a tensor with dims wins over a 0-d one, else the wider
dtype; Python and numpy scalars are weak (they take the tensor's dtype when
of its kind or a lower one); float promotion is a recorded ``cast``.
"""

from __future__ import annotations

import builtins
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from pygrad import _copying, _derived, _dlpack, _engines, _indexing, _optable
from pygrad._hooks import HookSet, RemovableHandle
from pygrad.errors import (
    PygradIndexError,
    PygradMemoryError,
    PygradRuntimeError,
    PygradTypeError,
    PygradValueError,
    ShapeError,
)

from . import ops
from .anomaly import check_forward
from .autograd import Node, VersionCounter, enable_grad, is_grad_enabled, is_inference_mode_enabled, sweep

float32: np.dtype = np.dtype(np.float32)
"""32-bit float dtype (the default)."""
float64: np.dtype = np.dtype(np.float64)
"""64-bit float dtype."""
bool_: np.dtype = np.dtype(np.bool_)
"""Bool dtype (comparison results; never requires grad)."""
int64: np.dtype = np.dtype(np.int64)
"""64-bit integer dtype (the default for integer data; never requires grad)."""
int32: np.dtype = np.dtype(np.int32)
"""32-bit integer dtype (never requires grad)."""
long, double = int64, float64  # PyTorch's aliases

MAX_NDIM = 8
"""Tensors have 0 to 8 dimensions."""

_DTYPES = (float32, float64, bool_, int64, int32)
_DTYPE_NAMES = {"float32": float32, "float64": float64, "bool": bool_, "int64": int64, "int32": int32,
                "long": int64, "double": float64}
KIND = {bool_: 0, int32: 1, int64: 1, float32: 2, float64: 2}
"""dtype kinds in promotion order: bool < integer < float."""


# ------------------------------------------------------------- helpers ---


def _is_int(v: object) -> bool:
    """True for Python/numpy integers, excluding bools."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_scalar(v: object) -> bool:
    """True for Python and numpy numbers: weak scalars (PyTorch's rule)."""
    if isinstance(v, np.generic):
        return v.dtype.kind in "biuf"
    return isinstance(v, (int, float))


def _scalar_kind(c: object) -> int:
    """A scalar's kind (see KIND): 0 for bools, 1 for integers, 2 for floats."""
    if isinstance(c, (bool, np.bool_)):
        return 0
    return 1 if isinstance(c, (int, np.integer)) else 2


def _is_number(v: object) -> bool:
    """True for Python or numpy real numbers (used for scalar arguments such as bounds)."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, np.bool_)


def _number(v: object, opname: str, what: str) -> float:
    """``v`` as a Python float, or PygradTypeError naming the op and the argument."""
    if not _is_number(v):
        raise PygradTypeError(f"{opname}: {what} must be a real number, got {type(v).__name__}")
    try:
        return float(v)  # type: ignore[arg-type]
    except OverflowError:
        raise PygradValueError(f"{opname}: {what} of {int(v).bit_length()} bits does not fit a float") from None


def parse_dtype(dtype: object, opname: str) -> np.dtype:
    """A dtype argument (``numpy.dtype``, numpy scalar type or name) as one of the three dtypes."""
    if isinstance(dtype, str):
        found = _DTYPE_NAMES.get(dtype)
        if found is not None:
            return found
    elif isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.generic)):
        dt = np.dtype(dtype)
        if dt in _DTYPES:
            return dt
    raise PygradTypeError(
        f"{opname}: unsupported dtype {dtype!r}; expected float32, float64, int64, int32 or bool"
    )


def _check_ndim(shape: tuple[int, ...], opname: str) -> None:
    """ShapeError if ``shape`` has more than MAX_NDIM dimensions."""
    if len(shape) > MAX_NDIM:
        raise ShapeError(
            f"{opname}: result would have {len(shape)} dimensions {shape}; "
            f"at most {MAX_NDIM} are supported"
        )


def array_from(data: object, dtype: object, opname: str) -> np.ndarray:
    """A fresh C-contiguous array from user data, following the ``tensor()`` dtype rules.

    PyTorch's inference: Python floats -> float32, Python ints -> int64, bools
    -> bool; numpy float32/float64/int64/int32 keep their dtype, other
    integers widen to int64 and float16 to float32; ``dtype`` overrides;
    anything else raises PygradTypeError.
    """
    if isinstance(data, Tensor):
        _engines.copy_warning(opname, stacklevel=5)
        arr = data._data
        from_python = False
    elif _engines.is_tensor(data):  # a C-engine tensor: its values, as for a reference tensor
        _engines.copy_warning(opname, stacklevel=5)
        arr = np.asarray(data.numpy())
        from_python = False
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
        from_python = False
    elif data is None or isinstance(data, (str, bytes, complex)):
        raise PygradTypeError(f"{opname}: cannot make a tensor from {type(data).__name__}")
    else:
        try:
            arr = np.asarray(data)
        except ValueError as exc:
            raise PygradValueError(f"{opname}: cannot make a tensor from this data: {exc}") from None
        from_python = True
    kind = arr.dtype.kind
    if kind == "b":
        natural = bool_
    elif kind == "f" and arr.dtype.itemsize in (4, 8):
        natural = float32 if from_python else np.dtype(f"f{arr.dtype.itemsize}")
    elif kind == "f":
        natural = float32
    elif kind in "iu":
        natural = int32 if arr.dtype == int32 and not from_python else int64
        if kind == "u" and arr.dtype.itemsize == 8 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            raise PygradValueError(f"{opname}: value {int(arr.max())} does not fit int64")
    elif kind == "O" and _all_ints(data):
        raise PygradValueError(f"{opname}: an integer in the data does not fit int64")
    else:
        raise PygradTypeError(
            f"{opname}: unsupported data dtype {arr.dtype}; expected float, int or bool data"
        )
    target = natural if dtype is None else parse_dtype(dtype, opname)
    _check_ndim(arr.shape, opname)
    if target.kind == "i" and kind == "f" and arr.size and not np.isfinite(arr).all():
        raise PygradValueError(f"{opname}: cannot convert NaN or infinity to {target}")
    try:
        with np.errstate(invalid="ignore"):
            return np.array(arr, dtype=target, order="C", copy=True)
    except MemoryError:
        raise PygradMemoryError(f"{opname}: cannot allocate a tensor of shape {arr.shape}") from None


def _all_ints(data: object) -> bool:
    if isinstance(data, (list, tuple)):
        return all(_all_ints(v) for v in data)
    return isinstance(data, int)


def _grad_allowed(dtype: np.dtype, requires_grad: bool, opname: str) -> bool:
    """``bool(requires_grad)``, or PygradTypeError when a bool or integer tensor is asked to require grad."""
    if requires_grad and KIND[dtype] < 2:
        raise PygradTypeError(f"{opname}: only float tensors can require grad, got {dtype}")
    return bool(requires_grad)


def _sole_tuple(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Arguments given as ``f(2, 3)`` or ``f((2, 3))`` / ``f([2, 3])``, as one tuple."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return args


def parse_shape(args: tuple[Any, ...], opname: str, allow_infer: bool = False) -> tuple[int, ...]:
    """A shape from ints or one tuple/list; negative sizes are ShapeErrors (``-1`` if ``allow_infer``)."""
    items = _sole_tuple(args)
    for s in items:
        if not _is_int(s):
            raise PygradTypeError(
                f"{opname}: shape entries must be ints, got {type(s).__name__} in {items!r}"
            )
    shape = tuple(int(s) for s in items)
    for s in shape:
        if s < -1 or (s == -1 and not allow_infer):
            raise ShapeError(f"{opname}: negative dimension {s} in shape {shape}")
    _check_ndim(shape, opname)
    return shape


def normalize_axis(opname: str, axis: object, shape: tuple[int, ...], ndim: int | None = None) -> int:
    """One axis in ``[-ndim, ndim)`` as a non-negative int (``ndim`` defaults to ``len(shape)``)."""
    n = len(shape) if ndim is None else ndim
    if not _is_int(axis):
        raise PygradTypeError(f"{opname}: axis must be an int, got {type(axis).__name__}")
    a = int(axis)  # type: ignore[call-overload]
    b = a + n if a < 0 else a
    if not 0 <= b < n:
        raise ShapeError(f"{opname}: axis {a} is out of range for a tensor of shape {shape}")
    return b


def normalize_axes(opname: str, axis: object, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``None`` (all axes), an int or a tuple/list of ints, as sorted non-negative axes."""
    if axis is None:
        return tuple(range(len(shape)))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out: list[int] = []
    for a in items:
        b = normalize_axis(opname, a, shape)
        if b in out:
            raise ShapeError(f"{opname}: axis {a} is repeated in {items} (tensor shape {shape})")
        out.append(b)
    return tuple(sorted(out))


def broadcast_shape(opname: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy broadcast of ``shapes``, or ShapeError naming the op and the shapes."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = ", ".join(str(s) for s in shapes[:-1]) + f" and {shapes[-1]}"
        raise ShapeError(f"{opname}: shapes {listed} cannot be broadcast together") from None


def _resolve_aliases(
    opname: str, axis: object, keepdims: bool, dim: object, keepdim: bool | None
) -> tuple[object, bool]:
    """Merge the PyTorch spellings ``dim=``/``keepdim=`` into ``axis``/``keepdims``."""
    if dim is not None:
        if axis is not None:
            raise PygradTypeError(f"{opname}: got both axis= and dim=; pass only one")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return axis, bool(keepdims)


# ------------------------------------------------------------- Tensor ---


class Tensor:
    """An n-d array of float32/float64 (or bool) values that records the ops applied to it.

    ``Tensor(data, dtype=None, requires_grad=False)`` is the same as
    :func:`tensor`. Data is C-contiguous with 0 to 8 dims; ``numpy()`` returns
    the array itself. When ``requires_grad`` is True and grad mode is on, every
    op on the tensor is recorded, and ``backward()`` fills ``.grad`` of the
    leaves with d(output)/d(leaf), shaped like the leaf.
    """

    __slots__ = ("_data", "_version", "_node", "_requires_grad", "_grad", "_hooks", "_inference", "__weakref__")
    _engine = _engines.REFERENCE  # the engine module (see pygrad._engines)

    __array_ufunc__ = None  # ndarray (op) Tensor defers to the Tensor's reflected operator

    def __init__(self, data: object, dtype: object = None, requires_grad: bool = False) -> None:
        arr = array_from(data, dtype, "tensor")
        self._data = arr
        self._version = VersionCounter()
        self._node: Node | None = None
        self._requires_grad = _grad_allowed(arr.dtype, requires_grad, "tensor")
        self._grad: Tensor | None = None
        self._hooks: Any = None  # a leaf's hooks (pygrad._hooks.HookSet); a non-leaf's are on its node
        self._inference = is_inference_mode_enabled()

    @classmethod
    def _wrap(cls, arr: np.ndarray, version: VersionCounter | None = None) -> Tensor:
        """A leaf not requiring grad around ``arr`` (no copy; ``version`` shared if given)."""
        t = object.__new__(cls)
        t._data = arr
        t._version = VersionCounter() if version is None else version
        t._node = None
        t._requires_grad = False
        t._grad = None
        t._hooks = None
        t._inference = is_inference_mode_enabled()
        return t

    # ---- copy, deepcopy, pickle (pygrad._copying: one protocol for both engines) ----
    def __copy__(self) -> Tensor:
        return _copying.tensor_copy(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        return _copying.tensor_deepcopy(self, memo)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return _copying.tensor_reduce(self)

    # ------------------------------------------------------ properties ---

    @property
    def shape(self) -> tuple[int, ...]:
        """Sizes of the dimensions."""
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        """``float32``, ``float64`` or ``bool_``."""
        return self._data.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self._data.ndim

    @property
    def size(self) -> int:
        """Number of elements (product of the shape)."""
        return int(self._data.size)

    def numel(self) -> int:
        """Number of elements (product of the shape)."""
        return int(self._data.size)

    @property
    def requires_grad(self) -> bool:
        """Whether ops on this tensor are recorded. Settable on leaves only."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if self._node is not None:
            if value:
                return
            raise PygradRuntimeError(
                f"requires_grad: only leaf tensors can change requires_grad; this tensor "
                f"(shape {self.shape}) was made by {self._node.name}; use detach() instead"
            )
        if value and self._inference and not is_inference_mode_enabled():
            raise PygradRuntimeError("requires_grad: setting requires_grad=True on an inference tensor outside "
                                     "inference_mode is not allowed; clone() it first")
        self._requires_grad = _grad_allowed(self.dtype, value, "requires_grad")

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True unless the tensor was produced by a recorded op."""
        return self._node is None

    @property
    def grad_fn(self) -> Node | None:
        """The node that produced this tensor (``.name`` is the op name), or None for leaves."""
        return self._node

    @property
    def grad(self) -> Tensor | None:
        """Accumulated gradient (same shape and dtype), or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise PygradTypeError(
                    f"grad: expected a Tensor or None, got {type(value).__name__}"
                )
            if value.shape != self.shape:
                raise ShapeError(
                    f"grad: assigned gradient has shape {value.shape}, expected {self.shape}"
                )
            if value.dtype != self.dtype:
                raise PygradTypeError(
                    f"grad: assigned gradient has dtype {value.dtype}, expected {self.dtype}"
                )
        self._grad = value

    @property
    def version(self) -> int:
        """In-place version counter of the storage (shared with views)."""
        return self._version.value

    @property
    def T(self) -> Tensor:  # noqa: N802 - numpy/PyTorch spelling
        """All dims reversed (numpy ``.T``), as ``permute``."""
        return _permute(self, tuple(range(self.ndim - 1, -1, -1)), "T")

    # -------------------------------------------------------- autograd ---

    def backward(
        self, grad: object = None, retain_graph: bool | None = None, create_graph: bool = False, inputs: Any = None
    ) -> None:
        """Accumulate d(self)/d(leaf) · grad into ``.grad`` of every leaf requiring grad.

        ``grad`` (shape of self; converted to self's dtype) may be omitted only
        for one-element tensors, where it is 1. Without ``retain_graph``
        (default: ``create_graph``) the graph's saved values are freed and a
        second backward raises. With ``create_graph=True`` the backward is
        recorded, so the gradients can be differentiated again. ``inputs``:
        accumulate into these tensors' ``.grad`` only (leaves or not).
        """
        if inputs is not None:
            from pygrad import autograd

            autograd.backward(self, grad, retain_graph, create_graph, inputs=inputs)
            return
        if retain_graph is None:
            retain_graph = create_graph
        if not self._requires_grad:
            raise PygradRuntimeError(
                f"backward: this tensor (shape {self.shape}) does not require grad and has "
                "no grad_fn; set requires_grad=True on the leaves you differentiate"
            )
        if grad is None:
            if self.size != 1:
                raise PygradRuntimeError(
                    "backward: grad can be implicitly created only for one-element outputs; "
                    f"this output has shape {self.shape}, so pass grad= of that shape"
                )
            g = np.ones(self.shape, dtype=self.dtype)
        else:
            if not isinstance(grad, Tensor) and _engines.is_tensor(grad):
                raise _engines.mix_error("backward", self, grad)
            g = grad._data if isinstance(grad, Tensor) else np.asarray(grad)
            if g.dtype.kind not in "biuf":
                raise PygradTypeError(f"backward: grad has unsupported dtype {g.dtype}")
            if g.shape != self.shape:
                raise ShapeError(
                    f"backward: grad has shape {g.shape}, expected the output's shape {self.shape}"
                )
            g = np.array(g, dtype=self.dtype, copy=True)
        if create_graph:
            seed = grad if isinstance(grad, Tensor) and grad.dtype == self.dtype else Tensor._wrap(g)
            _autograd_run([self], [seed], None, True, True)
            return
        _autograd_run([self], [Tensor._wrap(g)], None, bool(retain_graph), False)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` each time this tensor's gradient has been computed.

        For a leaf, ``grad`` is its whole gradient of the sweep, before it is
        accumulated into ``.grad``; for a non-leaf, the gradient that flows on
        to its inputs. A Tensor the hook returns replaces the gradient (same
        shape and dtype). Returns a handle: ``handle.remove()``.
        """
        if not self._requires_grad:
            raise PygradRuntimeError("register_hook: cannot register a hook on a tensor that doesn't require gradient")
        owner = self._node if self._node is not None else self
        hooks = owner.hooks if self._node is not None else self._hooks
        if hooks is None:
            hooks = HookSet(self)
            if self._node is not None:
                self._node.hooks = hooks
            else:
                self._hooks = hooks
        return hooks.add(hooks.grad, hook, "register_hook")

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> RemovableHandle:
        """Call ``hook(tensor)`` after this leaf's ``.grad`` has been accumulated (leaves only)."""
        if self._node is not None:
            raise PygradRuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks cannot be "
                                     "registered on non-leaf tensors")
        if not self._requires_grad:
            raise PygradRuntimeError("register_hook: cannot register a hook on a tensor that doesn't require gradient")
        if self._hooks is None:
            self._hooks = HookSet(self)
        return self._hooks.add(self._hooks.post, hook, "register_post_accumulate_grad_hook")

    def _post_hooks(self) -> Any:
        """This leaf's hooks (for post-accumulate hooks run outside the sweep), or None."""
        return self._hooks if self._node is None else None

    def is_inference(self) -> bool:
        """True for a tensor made under :class:`inference_mode`."""
        return self._inference

    def detach_(self) -> Tensor:
        """Detach in place: self becomes a leaf that does not require grad."""
        if self._node is not None and self._node.op.is_view:
            raise PygradRuntimeError(f"detach_: can't detach views in place (the tensor was made by "
                                     f"{self._node.name}); use detach()")
        self._node = None
        self._requires_grad = False
        return self

    def _accumulate_grad(self, g: np.ndarray) -> None:
        """``.grad += g`` (creating ``.grad`` on first use)."""
        if g.shape != self.shape or g.dtype != self.dtype:
            raise PygradRuntimeError(
                f"backward: internal error: gradient of shape {g.shape} and dtype {g.dtype} "
                f"for a tensor of shape {self.shape} and dtype {self.dtype}"
            )
        if self._grad is None:
            self._grad = Tensor._wrap(np.array(g, order="C", copy=True))
        elif self._grad._node is not None:  # a recorded gradient (create_graph): replace, never edit
            self._grad = Tensor._wrap(self._grad._data + g)
        else:
            self._grad._data += g
            self._grad._version.value += 1

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf after backward (no-op on leaves)."""
        if not self._requires_grad:
            raise PygradRuntimeError(
                f"retain_grad: this tensor (shape {self.shape}) does not require grad"
            )
        if self._node is not None:
            self._node.retained = weakref.ref(self)

    def detach(self) -> Tensor:
        """A leaf sharing this tensor's memory and version counter, not requiring grad."""
        t = Tensor._wrap(self._data, self._version)
        t._inference = self._inference
        return t

    # ----------------------------------------------------- conversions ---

    def numpy(self) -> np.ndarray:
        """The underlying array itself (shares memory).

        Writes through it are not versioned: writing into a tensor that a live
        graph saved for backward silently changes the gradient (as in PyTorch;
        see docs/semantics.md). Use ``copy_`` and the other in-place ops, which
        are versioned, or write only where no graph has saved the tensor.
        """
        return self._data

    def _host_view(self) -> np.ndarray:
        """The underlying array, as :meth:`numpy` (the C engine's twin tells pygrad.compile nothing)."""
        return self._data

    def item(self) -> builtins.float | builtins.int | builtins.bool:
        """The value of a one-element tensor as a Python number (float, int or bool by dtype)."""
        if self.size != 1:
            raise PygradValueError(
                f"item: only one-element tensors can be converted to a Python scalar; "
                f"got shape {self.shape}"
            )
        return self._data.item()

    def tolist(self) -> Any:
        """Nested Python lists of the values (a number for 0-d)."""
        return self._data.tolist()

    def __dlpack__(self, stream: Any = None, max_version: tuple[int, int] | None = None,
                   dl_device: tuple[int, int] | None = None, copy: bool | None = None) -> Any:
        """A DLPack capsule over this tensor's array (zero-copy; ``copy=True`` copies).

        A tensor that requires grad is refused, as PyTorch does: export ``t.detach()``.
        """
        return _dlpack.export(self._data, self._requires_grad, stream, max_version, dl_device, copy)

    def __dlpack_device__(self) -> tuple[int, int]:
        """(1, 0): DLPack's CPU device, device 0."""
        return _dlpack.CPU_DEVICE

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return _dlpack.as_array(self._data, dtype, copy)

    def astype(self, dtype: object) -> Tensor:
        """Differentiable cast (op ``cast``); returns self when the dtype already matches."""
        return _cast(self, parse_dtype(dtype, "astype"))

    def to(self, dtype: object) -> Tensor:
        """Same as :meth:`astype`."""
        return _cast(self, parse_dtype(dtype, "to"))

    def _copy(self) -> Tensor:
        """A copy with its own storage, differentiable (the cast op to its own dtype)."""
        return _apply(ops.Cast(self.dtype), (self,))

    def float(self) -> Tensor:
        """Cast to float32."""
        return _cast(self, float32)

    def double(self) -> Tensor:
        """Cast to float64."""
        return _cast(self, float64)

    def long(self) -> Tensor:
        """Cast to int64 (floats truncate toward zero; NaN and out-of-range values give int64's minimum)."""
        return _cast(self, int64)

    def int(self) -> Tensor:
        """Cast to int32 (floats truncate toward zero; int64 values wrap)."""
        return _cast(self, int32)

    def bool(self) -> Tensor:
        """Cast to bool (nonzero is True)."""
        return _cast(self, bool_)

    def is_floating_point(self) -> builtins.bool:
        """Whether the dtype is float32 or float64 (the dtypes that can require grad)."""
        return KIND[self.dtype] == 2

    def __index__(self) -> builtins.int:
        """A one-element integer (or bool) tensor used as a Python index, as in ``range(t)``."""
        if KIND[self.dtype] == 2:
            raise PygradTypeError(f"index: only integer tensors can be used as an index, got {self.dtype}")
        return builtins.int(self.item())

    # ---- atan2, fmod, remainder (%), floor_divide (//) ----
    def atan2(self, other: object) -> Tensor:
        """atan2(self, other), the angle of the point (other, self)."""
        return _division_op("atan2", self, other)

    def fmod(self, other: object) -> Tensor:
        """C's fmod: self - trunc(self / other)·other, the sign of self."""
        return _division_op("fmod", self, other)

    def remainder(self, other: object) -> Tensor:
        """Python's %: self - floor(self / other)·other, the sign of other."""
        return _division_op("remainder", self, other)

    def floor_divide(self, other: object) -> Tensor:
        """Python's //: floor(self / other) (zero gradient)."""
        return _division_op("floor_divide", self, other)

    def __mod__(self, other: object) -> Tensor:
        return _division_op("remainder", self, other) if _operand_ok(other) else NotImplemented

    def __rmod__(self, other: object) -> Tensor:
        return _division_op("remainder", other, self) if _operand_ok(other) else NotImplemented

    def __floordiv__(self, other: object) -> Tensor:
        return _division_op("floor_divide", self, other) if _operand_ok(other) else NotImplemented

    def __rfloordiv__(self, other: object) -> Tensor:
        return _division_op("floor_divide", other, self) if _operand_ok(other) else NotImplemented

    # ---- bitwise and logical: bool and integer tensors, no graph ----
    def __and__(self, other: object) -> Tensor:
        return _bitwise("bitwise_and", np.bitwise_and, self, other) if _operand_ok(other) else NotImplemented

    def __rand__(self, other: object) -> Tensor:
        return _bitwise("bitwise_and", np.bitwise_and, other, self) if _operand_ok(other) else NotImplemented

    def __or__(self, other: object) -> Tensor:
        return _bitwise("bitwise_or", np.bitwise_or, self, other) if _operand_ok(other) else NotImplemented

    def __ror__(self, other: object) -> Tensor:
        return _bitwise("bitwise_or", np.bitwise_or, other, self) if _operand_ok(other) else NotImplemented

    def __xor__(self, other: object) -> Tensor:
        return _bitwise("bitwise_xor", np.bitwise_xor, self, other) if _operand_ok(other) else NotImplemented

    def __rxor__(self, other: object) -> Tensor:
        return _bitwise("bitwise_xor", np.bitwise_xor, other, self) if _operand_ok(other) else NotImplemented

    def __invert__(self) -> Tensor:
        """``~x``: logical not of a bool tensor, bitwise not of an integer one."""
        return _bitwise_not(self)

    def __bool__(self) -> builtins.bool:
        if self.size != 1:
            raise PygradValueError(
                f"bool: the truth value of a tensor of shape {self.shape} is ambiguous"
            )
        return bool(self._data.item())

    def __float__(self) -> builtins.float:
        return float(self.item())

    def __int__(self) -> builtins.int:
        return builtins.int(self.item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise PygradTypeError("len: a 0-d tensor has no length")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise PygradTypeError("iter: cannot iterate over a 0-d tensor")
        for i in range(self.shape[0]):
            yield self[i]

    def __repr__(self) -> str:
        if self.size == 0:
            body = f"[], shape={self.shape}"
        else:
            body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extras = [body]
        if self.dtype != float32:
            extras.append(f"dtype={self.dtype.name}")
        if self._node is not None:
            extras.append(f"grad_fn=<{self._node.name}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join(extras) + ")"

    def __format__(self, spec: str) -> str:
        if spec and self.size == 1:
            return format(self._data.item(), spec)
        return repr(self)

    __hash__ = object.__hash__

    # ------------------------------------------------------- operators ---

    def __add__(self, other: object) -> Tensor:
        return _add(self, other) if _operand_ok(other) else NotImplemented

    def __radd__(self, other: object) -> Tensor:
        return _add(other, self) if _operand_ok(other) else NotImplemented

    def __sub__(self, other: object) -> Tensor:
        return _sub(self, other) if _operand_ok(other) else NotImplemented

    def __rsub__(self, other: object) -> Tensor:
        return _sub(other, self) if _operand_ok(other) else NotImplemented

    def __mul__(self, other: object) -> Tensor:
        return _mul(self, other) if _operand_ok(other) else NotImplemented

    def __rmul__(self, other: object) -> Tensor:
        return _mul(other, self) if _operand_ok(other) else NotImplemented

    def __truediv__(self, other: object) -> Tensor:
        return _div(self, other) if _operand_ok(other) else NotImplemented

    def __rtruediv__(self, other: object) -> Tensor:
        return _div(other, self) if _operand_ok(other) else NotImplemented

    def __pow__(self, other: object) -> Tensor:
        return _pow(self, other) if _operand_ok(other) else NotImplemented

    def __rpow__(self, other: object) -> Tensor:
        return _pow(other, self) if _operand_ok(other) else NotImplemented

    def __matmul__(self, other: object) -> Tensor:
        return _matmul(self, other) if _operand_ok(other) else NotImplemented

    def __rmatmul__(self, other: object) -> Tensor:
        return _matmul(other, self) if _operand_ok(other) else NotImplemented

    def __neg__(self) -> Tensor:
        return _unary(ops.Neg(), self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _unary(ops.Abs(), self)

    def __lt__(self, other: object) -> Tensor:
        return _compare("lt", np.less, self, other)

    def __le__(self, other: object) -> Tensor:
        return _compare("le", np.less_equal, self, other)

    def __gt__(self, other: object) -> Tensor:
        return _compare("gt", np.greater, self, other)

    def __ge__(self, other: object) -> Tensor:
        return _compare("ge", np.greater_equal, self, other)

    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return _compare("eq", np.equal, self, other)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return _compare("ne", np.not_equal, self, other)

    def __getitem__(self, key: Any) -> Tensor:
        return _getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        """``self[key] = value`` (value broadcast to ``self[key]``'s shape; a repeated position
        keeps the last write), in place and recorded like the other in-place updates."""
        _setitem(self, key, value)

    # -------------------------------------------------------- in place ---

    def add_(self, other: object, alpha: float = 1.0) -> Tensor:
        """In place: self += alpha * other (other broadcast to self's shape, cast to self's dtype).

        In-place ops are recorded like their out-of-place forms when grad mode is on
        and self (a non-leaf) or other requires grad; on a leaf that requires grad
        they raise while grad mode is on.
        """
        if alpha != 1.0:
            return _inplace_apply(self, "add_", lambda x: x + _scaled(other, alpha, "add_"), other)
        return _inplace(self, "add_", other)

    def sub_(self, other: object, alpha: float = 1.0) -> Tensor:
        """In place: self -= alpha * other."""
        if alpha != 1.0:
            return _inplace_apply(self, "sub_", lambda x: x - _scaled(other, alpha, "sub_"), other)
        return _inplace(self, "sub_", other)

    def mul_(self, other: object) -> Tensor:
        """In place: self *= other."""
        return _inplace(self, "mul_", other)

    def zero_(self) -> Tensor:
        """In place: self = 0 (bool tensors become all False)."""
        if self.dtype == bool_:
            self._data[...] = False
            self._version.value += 1
            return self
        return _inplace(self, "zero_", None)

    def fill_(self, value: float) -> Tensor:
        """In place: every element = value (recorded as a constant when self is in a graph)."""
        v = _number(value, "fill_", "value")
        if self.dtype == bool_:
            self._data[...] = bool(v)
            self._version.value += 1
            return self
        _inplace(self, "zero_", None)
        self._data[...] = v
        return self

    def copy_(self, src: object) -> Tensor:
        """In place: copy src's values, cast to self's dtype.

        Recorded when grad mode is on and src or self (a non-leaf) requires grad:
        src (broadcast to self's shape) then receives self's gradient. Unrecorded,
        src may have any shape of the same number of elements.
        """
        if _is_scalar(src):  # a Python scalar is weak: it takes self's dtype, as in the other in-place ops
            s = Tensor._wrap(np.array(src, dtype=self.dtype))
        else:
            s = src if isinstance(src, Tensor) else as_tensor(src, "copy_")
        if is_grad_enabled() and (self._requires_grad or s._requires_grad):
            from .functional import where

            return _inplace_apply(self, "copy_", lambda x: where(Tensor._wrap(np.zeros(x.shape, dtype=bool_)), x, s),
                                  s)
        _check_leaf_inplace(self, "copy_")
        if s.size != self.size:
            raise ShapeError(
                f"copy_: source of shape {s.shape} has {s.size} elements, destination {self.shape} has {self.size}")
        self._data[...] = s._data.reshape(self.shape).astype(self.dtype, copy=False)
        self._version.value += 1
        return self

    def exp_(self) -> Tensor:
        """In place: self = exp(self)."""
        return _inplace_apply(self, "exp_", lambda x: x.exp())

    def relu_(self) -> Tensor:
        """In place: self = max(self, 0)."""
        return _inplace_apply(self, "relu_", lambda x: x.relu())

    def _inplace(self, op: str, fn: Callable[[Tensor], Tensor], *operands: Any) -> Tensor:
        """self = fn(self), in place (as the C engine's Tensor._inplace): recorded when grad mode
        is on and self or an operand requires grad."""
        return _inplace_apply(self, op, fn, *operands)

    def sigmoid_(self) -> Tensor:
        """In place: self = 1 / (1 + exp(-self))."""
        return _inplace_apply(self, "sigmoid_", lambda x: x.sigmoid())

    def tanh_(self) -> Tensor:
        """In place: self = tanh(self)."""
        return _inplace_apply(self, "tanh_", lambda x: x.tanh())

    def neg_(self) -> Tensor:
        """In place: self = -self."""
        return _inplace_apply(self, "neg_", lambda x: -x)

    def abs_(self) -> Tensor:
        """In place: self = |self|."""
        return _inplace_apply(self, "abs_", lambda x: x.abs())

    def sqrt_(self) -> Tensor:
        """In place: self = √self."""
        return _inplace_apply(self, "sqrt_", lambda x: x.sqrt())

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """In place: self = clamp(self, min, max)."""
        return _inplace_apply(self, "clamp_", lambda x: x.clamp(min, max))

    def div_(self, other: object) -> Tensor:
        """In place: self = self / other."""
        o = other if isinstance(other, Tensor) or _is_scalar(other) else as_tensor(other, "div_")
        return _inplace_apply(self, "div_", lambda x: x / o, o)

    def pow_(self, exponent: object) -> Tensor:
        """In place: self = self ** exponent."""
        o = exponent if isinstance(exponent, Tensor) or _is_scalar(exponent) else as_tensor(exponent, "pow_")
        return _inplace_apply(self, "pow_", lambda x: x ** o, o)

    def masked_fill_(self, mask: object, value: object) -> Tensor:
        """In place: self = value where ``mask`` (a bool tensor broadcasting to self's shape), else self."""
        from .functional import where

        m = mask if isinstance(mask, Tensor) else as_tensor(mask, "masked_fill_")
        if m.dtype != bool_:
            raise PygradTypeError(f"masked_fill_: expected a bool mask, got {m.dtype}")
        if isinstance(value, Tensor):
            v = value
        else:
            v = Tensor._wrap(np.array(_number(value, "masked_fill_", "value"), dtype=self.dtype))
        if v.ndim != 0:
            raise PygradValueError(f"masked_fill_: value must be a number or a 0-d tensor, got shape {v.shape}")
        return _inplace_apply(self, "masked_fill_", lambda x: where(m, _cast(v, x.dtype), x), v)

    def __iadd__(self, other: object) -> Tensor:
        return _inplace(self, "add_", other) if _operand_ok(other) else NotImplemented

    def __isub__(self, other: object) -> Tensor:
        return _inplace(self, "sub_", other) if _operand_ok(other) else NotImplemented

    def __imul__(self, other: object) -> Tensor:
        return _inplace(self, "mul_", other) if _operand_ok(other) else NotImplemented

    # ---------------------------------------------------------- math ---

    # the plain elementwise ops (exp, log, sin ...) are built from the op table: see the end of this file

    def sqrt(self) -> Tensor:
        """√x elementwise."""
        return _unary(ops.Sqrt(), self)

    def reciprocal(self) -> Tensor:
        """1/x elementwise."""
        return _unary(ops.Reciprocal(), self)

    def abs(self) -> Tensor:
        """|x| elementwise (derivative sign(x), 0 at 0)."""
        return _unary(ops.Abs(), self)

    def sigmoid(self) -> Tensor:
        """σ(x) = 1/(1+e⁻ˣ) elementwise."""
        return _unary(ops.Sigmoid(), self)

    def tanh(self) -> Tensor:
        """tanh(x) elementwise."""
        return _unary(ops.Tanh(), self)

    def relu(self) -> Tensor:
        """max(x, 0) elementwise (derivative 0 at x <= 0)."""
        return _unary(ops.Relu(), self)

    def leaky_relu(self, negative_slope: builtins.float = 0.01) -> Tensor:
        """x > 0 ? x : negative_slope·x."""
        return _unary(ops.LeakyRelu(_number(negative_slope, "leaky_relu", "negative_slope")), self)

    def elu(self, alpha: builtins.float = 1.0) -> Tensor:
        """x > 0 ? x : alpha·(eˣ - 1)."""
        return _unary(ops.Elu(_number(alpha, "elu", "alpha")), self)

    def clamp(
        self, min: builtins.float | None = None, max: builtins.float | None = None  # noqa: A002
    ) -> Tensor:
        """Clip into [min, max] (scalar bounds, at least one)."""
        return _clamp(self, min, max)

    def _hardtanh(self, min_val: builtins.float = -1.0, max_val: builtins.float = 1.0) -> Tensor:
        """The hardtanh op: min(max(x, min_val), max_val), the gradient strictly inside (see
        :class:`ops.Hardtanh`); nn.functional.hardtanh and relu6 apply it."""
        lo, hi = _number(min_val, "hardtanh", "min_val"), _number(max_val, "hardtanh", "max_val")
        if not lo <= hi:
            raise PygradValueError(f"hardtanh: min_val {lo} is greater than max_val {hi}")
        return _unary(ops.Hardtanh(lo, hi), self)

    def softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """exp(x - max) / Σ exp(x - max) along ``axis``."""
        return _softmax(ops.Softmax, "softmax", self, axis, dim)

    def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """x - max - log Σ exp(x - max) along ``axis``."""
        return _softmax(ops.LogSoftmax, "log_softmax", self, axis, dim)

    def pow(self, p: object) -> Tensor:
        """self ** p (p a scalar: ``pow_scalar``; a tensor: ``pow``)."""
        return _pow(self, p)

    def maximum(self, other: object) -> Tensor:
        """Elementwise max with broadcasting (ties split the gradient ½/½)."""
        return _extreme2(ops.Maximum, "maximum", self, other)

    def minimum(self, other: object) -> Tensor:
        """Elementwise min with broadcasting (ties split the gradient ½/½)."""
        return _extreme2(ops.Minimum, "minimum", self, other)

    def matmul(self, other: object) -> Tensor:
        """self @ other with numpy ``matmul`` rules."""
        return _matmul(self, other)

    # ---------------------------------------------------- reductions ---

    def sum(
        self, axis: object = None, keepdims: bool = False, *, dim: object = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        """Σ over ``axis`` (None: all)."""
        return _reduce(ops.Sum, "sum", self, axis, keepdims, dim, keepdim)

    def _logsumexp(self, axes: tuple[int, ...], keepdim: bool) -> Tensor:
        """The logsumexp op over checked, sorted ``axes`` (Tensor.logsumexp checks its arguments)."""
        return _apply(ops.LogSumExp(axes, keepdim), (_floating(self),))

    def _norm2(self, axes: tuple[int, ...], keepdim: bool) -> Tensor:
        """The norm op, √Σ x² over checked, sorted ``axes`` (Tensor.norm checks its arguments)."""
        if KIND[self.dtype] < 2:
            raise PygradTypeError(f"norm: expected a float32 or float64 tensor, got {self.dtype}")
        return _apply(ops.Norm(tuple(axes), bool(keepdim)), (self,))

    def _norm(self, op: ops._Norm, weight: Any, bias: Any, wshape: tuple[int, ...]) -> Tensor:
        """Apply a normalisation op with weight and bias (ones and zeros of ``wshape`` when None)."""
        x = _floating(self)
        w = weight if weight is not None else Tensor._wrap(np.ones(wshape, dtype=x.dtype), VersionCounter())
        b = bias if bias is not None else Tensor._wrap(np.zeros(wshape, dtype=x.dtype), VersionCounter())
        for name, t in (("weight", w), ("bias", b)):
            if t.dtype != x.dtype:
                raise PygradTypeError(f"{op.name}: {name} of dtype {t.dtype}, expected the input's {x.dtype}")
            if tuple(t.shape) != tuple(wshape):
                raise ShapeError(f"{op.name}: {name} of shape {tuple(t.shape)}, expected {tuple(wshape)} for "
                                 f"input {tuple(x.shape)}")
        return _apply(op, (x, w, b))

    def _batch_norm(self, running_mean: Any, running_var: Any, weight: Any, bias: Any, training: bool,
                    momentum: float, eps: float) -> Tensor:
        """The batch_norm op (pygrad.nn.functional.batch_norm checks its arguments); None: not given.
        Training updates the running statistics in place (not recorded), the variance unbiased."""
        op = ops.BatchNorm(float(eps))
        op.training = bool(training)
        c = self.shape[1]
        if not training:
            op.mean = running_mean._data.reshape(1, c, 1).copy()
            op.var = running_var._data.reshape(1, c, 1).copy()
        y = self._norm(op, weight, bias, (c,))
        if training and running_mean is not None:
            cnt = self.numel() // c
            m = _scalar_of(momentum, running_mean.dtype)
            one = running_mean._data.dtype.type(1)
            running_mean._data[...] = (one - m) * running_mean._data + m * op.mean.reshape(c)
            unb = op.var.reshape(c) * running_var._data.dtype.type(cnt / (cnt - 1) if cnt > 1 else 1.0)
            running_var._data[...] = (one - m) * running_var._data + m * unb
            running_mean._version.value += 1
            running_var._version.value += 1
        return y

    def _layer_norm(self, normalized_shape: Any, weight: Any, bias: Any, eps: float) -> Tensor:
        """The layer_norm op over the last len(normalized_shape) dims (checked by its functional)."""
        shape = tuple(int(d) for d in normalized_shape)
        return self._norm(ops.LayerNorm(len(shape), float(eps)), weight, bias, shape)

    def _group_norm(self, num_groups: int, weight: Any, bias: Any, eps: float) -> Tensor:
        """The group_norm op (checked by its functional)."""
        return self._norm(ops.GroupNorm(int(num_groups), float(eps)), weight, bias, (self.shape[1],))

    def _dropout(self, p: float, generator: Any = None, inplace: bool = False) -> Tensor:
        """The dropout op with a fresh seed from ``generator`` or the module's generator."""
        from .creation import _draw_seed

        seed = _draw_seed(generator)
        return self._dropout_inplace(p, seed) if inplace else self._dropout_seeded(p, seed)

    def _dropout_seeded(self, p: float, seed: int) -> Tensor:
        """The dropout op with the mask of ``seed``: y = x · keep(seed) / (1 - p)."""
        if KIND[self.dtype] < 2:
            raise PygradTypeError(f"dropout: expected a float32 or float64 tensor, got {self.dtype}")
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise PygradValueError(f"dropout: probability has to be between 0 and 1, but got {p:g}")
        return _apply(ops.Dropout(p, seed), (self,))

    def _dropout_inplace(self, p: float, seed: int) -> Tensor:
        """self = dropout(self) with the mask of ``seed``, in place (recorded)."""
        return _inplace_apply(self, "dropout_", lambda x: x._dropout_seeded(p, seed))

    def _bernoulli(self, generator: Any = None) -> Tensor:
        """The bernoulli op over self's probabilities with a fresh seed, drawn as :meth:`_dropout` draws one."""
        from .creation import _draw_seed

        return self._bernoulli_seeded(_draw_seed(generator, "bernoulli"))

    def _bernoulli_seeded(self, seed: int) -> Tensor:
        """y[i] = 1 if u(seed, i) < self[i] else 0 (ops.bernoulli_values); never requires grad."""
        if KIND[self.dtype] < 2:
            raise PygradTypeError(f"bernoulli: expected a float32 or float64 tensor, got {self.dtype}")
        p = self._data
        bad = ~((p >= 0) & (p <= 1))
        if bad.any():
            i = int(np.flatnonzero(bad.reshape(-1))[0])
            raise PygradValueError(f"bernoulli: probabilities must lie in [0, 1], got {float(p.reshape(-1)[i]):g} "
                                   f"at flat index {i}")
        return Tensor._wrap(ops.Bernoulli(seed).run([p]))

    def _random_like(self, kind: str, seed: int) -> Tensor:
        """rand (``kind`` "uniform") or randn ("normal") values of ``seed`` in self's shape and dtype."""
        return Tensor._wrap(ops.Random(kind, seed, self.shape).run([np.zeros((), self.dtype)]))

    def _embedding(self, indices: Any, padding_idx: int = -1, scale_grad_by_freq: bool = False) -> Tensor:
        """The embedding op: rows of self (V, D) at int64 ``indices`` (any shape); padding_idx -1: none;
        scale_grad_by_freq: row v's gradient divided by the count of v in ``indices``."""
        if KIND[self.dtype] < 2:
            raise PygradTypeError(f"embedding: expected a float32 or float64 tensor, got {self.dtype}")
        if self.ndim != 2:
            raise ShapeError(f"embedding: weight must be 2-d (num_embeddings, embedding_dim), got shape "
                             f"{tuple(self.shape)}")
        idx = np.array(indices, dtype=np.int64, order="C")
        if idx.ndim >= 8:
            raise ShapeError(f"embedding: indices of {idx.ndim} dims, at most 7 allowed")
        v = self.shape[0]
        bad = idx[(idx < 0) | (idx >= v)]
        if bad.size:
            raise PygradIndexError(f"embedding: index {int(bad.flat[0])} is out of range for a table of {v} rows "
                                   f"(weight {tuple(self.shape)})")
        if not -1 <= padding_idx < v:
            raise PygradIndexError(f"embedding: padding_idx {padding_idx} is out of range for a table of {v} rows")
        return _apply(ops.Embedding(idx, padding_idx, scale_grad_by_freq), (self,))

    def _embedding_renorm_(self, indices: Tensor, max_norm: float, norm_type: float = 2.0) -> Tensor:
        """PyTorch's ``embedding_renorm_``, in place on self (V, D) and outside the graph: see
        :func:`ops.embedding_renorm`. The same checks and exception types as the C engine's."""
        op = "embedding_renorm_"
        if KIND[self.dtype] < 2:
            raise PygradTypeError(f"{op}: weight must be a float32 or float64 tensor, got {self.dtype}")
        if self.ndim != 2:
            raise ShapeError(f"{op}: weight must be 2-d (num_embeddings, embedding_dim), got shape {tuple(self.shape)}")
        if not isinstance(indices, Tensor) or indices.dtype != np.int64:
            what = f"{indices.dtype} of shape {tuple(indices.shape)}" if isinstance(indices, Tensor) else \
                type(indices).__name__
            raise PygradTypeError(f"{op}: indices must be an int64 tensor, got {what}")
        max_norm, norm_type = float(max_norm), float(norm_type)
        if not max_norm >= 0:
            raise PygradValueError(f"{op}: max_norm must be a non-negative number, got {max_norm:g}")
        if math.isnan(norm_type):
            raise PygradValueError(f"{op}: norm_type must be a number, got nan")
        if self._inference and not is_inference_mode_enabled():
            raise PygradRuntimeError(f"{op}: in-place update to an inference tensor outside inference_mode is not "
                                     "allowed; clone() it first")
        idx = indices._data.reshape(-1)
        v = self.shape[0]
        bad = np.flatnonzero((idx < 0) | (idx >= v))
        if bad.size:
            i = int(bad[0])
            raise PygradIndexError(f"{op}: index {int(idx[i])} (at position {i} of indices {tuple(indices.shape)}) "
                                   f"is out of range for a table of {v} rows (weight {tuple(self.shape)})")
        ops.embedding_renorm(self._data, idx, max_norm, norm_type)
        self._version.value += 1
        return self

    def _nll_loss(self, labels: Any, weight: Tensor, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0, op: str = "nll_loss") -> Tensor:
        """The nll_loss op over log-probabilities self (N, C) at N integer ``labels``, class ``weight``
        (C,) or 0-d (none; never differentiated: as PyTorch, refused while grad mode is on if it requires
        grad), rows labelled ``ignore_index`` left out, label smoothing ε: see :class:`ops.NllLoss`; ``op``
        names it in messages."""
        if reduction not in ("mean", "sum", "none"):
            raise PygradValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if KIND[self.dtype] < 2:
            raise PygradTypeError(f"{op}: expected a float32 or float64 tensor, got {self.dtype}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise PygradValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
        if self.ndim != 2:
            raise ShapeError(f"{op}: scores must be 2-d (N, C), got shape {tuple(self.shape)}")
        n, c = self.shape
        if n == 0 or c == 0:
            raise PygradValueError(f"{op}: {'empty batch' if n == 0 else 'no classes'}: scores of shape "
                                   f"{tuple(self.shape)}")
        w = weight if isinstance(weight, Tensor) else Tensor._wrap(np.asarray(weight, dtype=self.dtype))
        _engines.refuse_grad_weight(op, "nll_loss_forward", "weight", w)
        if w.dtype != self.dtype or w.shape not in ((), (c,)):
            raise ShapeError(f"{op}: weight must have one entry per class ({c}) and the scores' dtype, got "
                             f"{w.dtype} {tuple(w.shape)} for scores {self.dtype} {tuple(self.shape)}")
        y = np.array(labels._data if isinstance(labels, Tensor) else labels, dtype=np.int64)
        if y.ndim != 1:
            raise ShapeError(f"{op}: labels must be 1-d (one class index per row), got shape {y.shape}")
        if y.size != n:
            raise ShapeError(f"{op}: scores of shape {tuple(self.shape)} need {n} labels, got {y.size}")
        bad = np.flatnonzero(((y < 0) | (y >= c)) & (y != ignore_index))
        if bad.size:
            i = int(bad[0])
            raise PygradIndexError(f"{op}: label {int(y[i])} at position {i} is out of range for {c} classes "
                                   f"(scores of shape {tuple(self.shape)})")
        return _apply(ops.NllLoss(y, int(ignore_index), reduction, float(label_smoothing)), (self, w))

    def _one_hot(self, num_classes: int) -> Tensor:
        """The one_hot op: int64 of shape self.shape + (num_classes,), 1 at each label of self (int64
        or int32, each in [0, num_classes)), 0 elsewhere: see :class:`ops.OneHot`."""
        if KIND[self.dtype] != 1:
            raise PygradTypeError(f"one_hot: labels must be an integer tensor (int64 or int32), got {self.dtype}")
        c = int(num_classes)
        if c < 0:
            raise PygradValueError(f"one_hot: num_classes must be >= 0, got {c}")
        if self.ndim >= 8:
            raise ShapeError(f"one_hot: labels of {self.ndim} dims, at most 7 allowed (the result has one more)")
        flat = self._data.reshape(-1)
        bad = np.flatnonzero((flat < 0) | (flat >= c))
        if bad.size:
            i = int(bad[0])
            raise PygradValueError(f"one_hot: label {int(flat[i])} at position {i} is out of range for {c} classes "
                                   f"(labels of shape {tuple(self.shape)})")
        return _apply(ops.OneHot(c), (self,))

    def _check_finite_norm(self, norm_type: float) -> Tensor:
        """The check_finite_norm op: self (a total norm of order ``norm_type``), refused with
        RuntimeError when it holds a NaN or an infinity (clip_grad_norm_'s error_if_nonfinite)."""
        if KIND[self.dtype] < 2:
            raise PygradTypeError(f"check_finite_norm: expected a float32 or float64 tensor, got {self.dtype}")
        return _apply(ops.CheckFiniteNorm(float(norm_type)), (self,))

    def _huber_loss(self, target: Any, reduction: str = "mean", delta: builtins.float = 1.0,
                    smooth_l1: bool = False) -> Tensor:
        """The huber_loss op of self and ``target`` (self's shape and dtype): huber_loss(delta), or
        smooth_l1_loss with beta = ``delta`` (see :class:`ops.HuberLoss`)."""
        op = "smooth_l1_loss" if smooth_l1 else "huber_loss"
        if reduction not in ("mean", "sum", "none"):
            raise PygradValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        d = _number(delta, op, "beta" if smooth_l1 else "delta")
        if smooth_l1 and not d >= 0:
            raise PygradValueError(f"{op}: beta must be >= 0, got {d}")
        if not smooth_l1 and not d > 0:
            raise PygradValueError(f"{op}: delta must be positive, got {d}")
        t = target if isinstance(target, Tensor) else _scalar_tensor(target, self) if _is_scalar(target) else \
            _operand(target, op)
        for v in (self, t):
            if KIND[v.dtype] < 2:
                raise PygradTypeError(f"{op}: expected a float32 or float64 tensor, got {v.dtype}")
        if t.dtype != self.dtype:
            raise PygradTypeError(f"{op}: input and target must have one dtype, got {self.dtype} and {t.dtype} "
                                  "(promote first)")
        if t.shape != self.shape:
            raise ShapeError(f"{op}: input of shape {tuple(self.shape)} and target of shape {tuple(t.shape)} differ")
        return _apply(ops.HuberLoss(reduction, d, bool(smooth_l1)), (self, t))

    def _binary_cross_entropy(self, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:
        """The binary_cross_entropy op of probabilities self (in [0, 1]) and ``target`` (self's shape and
        dtype), each loss times ``weight`` (broadcasting to self's shape; None: none): see
        :class:`ops.BinaryCrossEntropy`."""
        op = "binary_cross_entropy"
        if reduction not in ("mean", "sum", "none"):
            raise PygradValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        ts = [self] + [x if isinstance(x, Tensor) else _scalar_tensor(x, self) if _is_scalar(x) else
                       _operand(x, op) for x in (target, 1.0 if weight is None else weight)]
        for x in ts:
            if KIND[x.dtype] < 2:
                raise PygradTypeError(f"{op}: expected a float32 or float64 tensor, got {x.dtype}")
        p, t, w = ts
        _engines.refuse_grad_weight(op, op, "weight", w)
        if t.dtype != p.dtype or w.dtype != p.dtype:
            raise PygradTypeError(f"{op}: input, target and weight must have one dtype, got {p.dtype}, {t.dtype} "
                                  f"and {w.dtype} (promote first)")
        if t.shape != p.shape:
            raise ShapeError(f"{op}: target of shape {tuple(t.shape)} differs from the input's shape "
                             f"{tuple(p.shape)}")
        ws, ps = tuple(w.shape), tuple(p.shape)
        if len(ws) > len(ps) or any(a not in (1, b) for a, b in zip(ws[::-1], ps[::-1])):
            raise ShapeError(f"{op}: weight of shape {ws} does not broadcast to the input's shape {ps}")
        for x, what in ((p, "input must hold probabilities in [0, 1]; use binary_cross_entropy_with_logits for "
                               "logits"), (t, "target must hold values in [0, 1]")):
            flat = x._data.reshape(-1)
            bad = np.flatnonzero(~((flat >= 0) & (flat <= 1)))
            if bad.size:
                i = int(bad[0])
                raise PygradValueError(f"{op}: {what} (got {float(flat[i]):g} at flat index {i})")
        return _apply(ops.BinaryCrossEntropy(reduction), (p, t, w))

    def _sdpa_dropout(self, key: Tensor, value: Tensor, bias: Tensor, scale: float, is_causal: bool,
                      dropout_p: float, generator: Any = None) -> Tensor:
        """:meth:`_sdpa` with dropout, its seed drawn as :meth:`_dropout` draws one."""
        from .creation import _draw_seed

        return self._sdpa(key, value, bias, scale, is_causal, dropout_p, _draw_seed(generator))

    def _sdpa(self, key: Tensor, value: Tensor, bias: Tensor, scale: float, is_causal: bool,
              dropout_p: float = 0.0, seed: int = 0) -> Tensor:
        """The scaled_dot_product_attention op: softmax(scale · self keyᵀ + bias) value (bias (batch..., L, S)
        or 0-d; pygrad.nn.functional.scaled_dot_product_attention prepares it)."""
        op = "scaled_dot_product_attention"
        xs = (self, key, value, bias)
        for t in xs:
            if KIND[t.dtype] < 2:
                raise PygradTypeError(f"{op}: expected a float32 or float64 tensor, got {t.dtype}")
        for t in xs[1:]:
            if t.dtype != self.dtype:
                raise PygradTypeError(f"{op}: dtypes {self.dtype} and {t.dtype} differ")
        q, k, v = self.shape, key.shape, value.shape
        if len(q) < 2 or len(k) != len(q) or len(v) != len(q):
            raise ShapeError(f"{op}: query {q}, key {k} and value {v} must have the same number of dims (at least 2)")
        if q[:-2] != k[:-2] or q[:-2] != v[:-2]:
            raise ShapeError(f"{op}: the batch dims of query {q}, key {k} and value {v} differ")
        if k[-1] != q[-1]:
            raise ShapeError(f"{op}: query {q} and key {k} must have the same last dim")
        if v[-2] != k[-2]:
            raise ShapeError(f"{op}: key {k} and value {v} must have as many rows")
        if bias.ndim and bias.shape != q[:-1] + (k[-2],):
            raise ShapeError(f"{op}: the mask {bias.shape} must have the shape (batch..., L, S) of query {q} and key "
                             f"{k}")
        if not math.isfinite(scale):
            raise PygradValueError(f"{op}: scale {scale:g} is not finite")
        if not 0.0 <= float(dropout_p) <= 1.0:
            raise PygradValueError(f"{op}: dropout_p has to be between 0 and 1, but got {float(dropout_p):g}")
        return _apply(ops.ScaledDotProductAttention(scale, is_causal, dropout_p, seed), xs)

    def _conv2d(self, weight: Tensor, stride: Any, padding: Any, dilation: Any, groups: int) -> Tensor:
        """The conv2d op without bias, its arguments normalised (pygrad.nn.functional.conv2d checks them):
        stride and dilation (h, w), padding (top, bottom, left, right)."""
        p = _conv_params(stride, padding, dilation, groups)
        _conv_plan("conv2d", self, weight, p)
        return _apply(ops.Conv2d(*p), (self, weight))

    def _conv2d_input_grad(self, weight: Tensor, input_size: Any, stride: Any, padding: Any, dilation: Any,
                           groups: int) -> Tensor:
        """The gradient of conv2d w.r.t. its input (self: the output's gradient), for an input (H, W)."""
        op = "conv2d_input_grad"
        p = _conv_params(stride, padding, dilation, groups)
        size = (int(input_size[0]), int(input_size[1]))
        _conv_dtypes(op, self, weight)
        if self.ndim != 4 or weight.ndim != 4:
            raise ShapeError(f"{op}: expected a 4-d gradient and a 4-d weight, got {self.shape} and {weight.shape}")
        x_shape = (self.shape[0], weight.shape[1] * p[3]) + size
        oh, ow = _conv_plan(op, x_shape, weight, p)
        want = (self.shape[0], weight.shape[0], oh, ow)
        if self.shape != want:
            raise ShapeError(f"{op}: gradient of shape {self.shape}, expected {want} for weight {weight.shape}")
        return _apply(ops.Conv2dInputGrad(size, *p), (self, weight))

    def _conv2d_weight_grad(self, grad: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                            groups: int) -> Tensor:
        """The gradient of conv2d w.r.t. its weight (self: the input), for a kernel (KH, KW)."""
        op = "conv2d_weight_grad"
        p = _conv_params(stride, padding, dilation, groups)
        size = (int(kernel_size[0]), int(kernel_size[1]))
        _conv_dtypes(op, self, grad)
        if self.ndim != 4 or grad.ndim != 4:
            raise ShapeError(f"{op}: expected a 4-d input and a 4-d gradient, got {self.shape} and {grad.shape}")
        w_shape = (grad.shape[1], self.shape[1] // max(p[3], 1)) + size
        oh, ow = _conv_plan(op, self, w_shape, p)
        want = (self.shape[0], grad.shape[1], oh, ow)
        if grad.shape != want:
            raise ShapeError(f"{op}: gradient of shape {grad.shape}, expected {want} for input {self.shape}")
        return _apply(ops.Conv2dWeightGrad(size, *p), (self, grad))

    def _max_pool2d(self, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                    return_indices: bool = False) -> Any:
        """The max_pool2d op on (N, C, H, W), its arguments pairs (pygrad.nn.functional.max_pool2d checks
        them); with return_indices also the int64 flat index in the H x W plane of each maximum."""
        params = _pool_params(kernel_size, stride, padding, dilation, ceil_mode)
        _pool_plan("max_pool2d", self, params, None)
        op = ops.MaxPool2d(params)
        y = _apply(op, (self,))
        return (y, Tensor(op.argmax(self._data)[1])) if return_indices else y

    def _avg_pool2d(self, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool, count_include_pad: bool,
                    divisor_override: int) -> Tensor:
        """The avg_pool2d op on (N, C, H, W) (divisor_override 0: none)."""
        return self._avg_pool2d_raw(_pool_params(kernel_size, stride, padding, 1, ceil_mode, count_include_pad,
                                                 divisor_override), None)

    def _adaptive_avg_pool2d(self, output_size: Any) -> Tensor:
        """The adaptive_avg_pool2d op on (N, C, H, W) to output_size (OH, OW)."""
        return self._avg_pool2d_raw(_pool_params(1, 1, 0, 1, False), (int(output_size[0]), int(output_size[1])))

    def _avg_pool2d_input_grad(self, input_size: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
                               count_include_pad: bool, divisor_override: int) -> Tensor:
        """The gradient of avg_pool2d w.r.t. its input (H, W) (self: the output's gradient)."""
        return self._avg_pool2d_input_grad_raw(input_size, _pool_params(
            kernel_size, stride, padding, 1, ceil_mode, count_include_pad, divisor_override), None)

    def _adaptive_avg_pool2d_input_grad(self, input_size: Any) -> Tensor:
        """The gradient of adaptive_avg_pool2d w.r.t. its input (H, W) (self: the output's gradient)."""
        out = tuple(self.shape[2:]) if self.ndim == 4 else (0, 0)
        return self._avg_pool2d_input_grad_raw(input_size, _pool_params(1, 1, 0, 1, False), out)

    def _avg_pool2d_raw(self, params: tuple[Any, ...], out: Any) -> Tensor:
        name = "adaptive_avg_pool2d" if out is not None else "avg_pool2d"
        _pool_plan(name, self, params, out)
        return _apply(ops.AdaptiveAvgPool2d(params, out) if out is not None else ops.AvgPool2d(params), (self,))

    def _avg_pool2d_input_grad_raw(self, input_size: Any, params: tuple[Any, ...], out: Any) -> Tensor:
        op = "avg_pool2d_input_grad"
        size = (int(input_size[0]), int(input_size[1]))
        if KIND[self.dtype] < 2:
            raise PygradTypeError(f"{op}: expected a float32 or float64 tensor, got {np.dtype(self.dtype).name}")
        if self.ndim != 4:
            raise ShapeError(f"{op}: expected a 4-d gradient (N, C, OH, OW), got {self.shape}")
        oh, ow = _pool_plan(op, (self.shape[0], self.shape[1]) + size, params, out)
        if self.shape[2:] != (oh, ow):
            raise ShapeError(f"{op}: gradient of shape {self.shape}, expected {(self.shape[0], self.shape[1], oh, ow)} "
                             f"for an input of {size[0]} x {size[1]}")
        return _apply(ops.AvgPool2dInputGrad(size, params, out), (self,))

    def _interpolate(self, mode: str, size: Any, scale: Any = None, align_corners: bool = False) -> Tensor:
        """The interpolate op: (N, C, L) or (N, C, H, W) resampled to the spatial ``size`` (one int per
        spatial dim); ``mode`` 'nearest', 'nearest-exact' or 'linear' (bilinear on a 4-d input); ``scale``
        the scale factors kept for the source maps (None or 0: from the sizes)
        (pygrad.nn.functional.interpolate checks its arguments and computes the sizes)."""
        args = _interp_check("interpolate", self, mode, size, scale, align_corners)
        return _apply(ops.Interpolate(*args), (self,))

    def _interpolate_input_grad(self, mode: str, input_size: Any, scale: Any = None,
                                align_corners: bool = False) -> Tensor:
        """The gradient of interpolate w.r.t. an input of spatial ``input_size`` (self: the output's
        gradient); the transposed resampling, a scatter-add."""
        args = _interp_check("interpolate_input_grad", self, mode, input_size, scale, align_corners)
        return _apply(ops.InterpolateInputGrad(*args), (self,))

    def _index_map(self, maps: Sequence[np.ndarray]) -> Tensor:
        """The index_map op: ``y[i, j, ...] = x[maps[0][i], maps[1][j], ...]`` (checked by pygrad._derived)."""
        ms = tuple(np.asarray(m, dtype=np.int64).reshape(-1) for m in maps)
        if len(ms) != self.ndim:
            raise ShapeError(f"index_map: got {len(ms)} index vectors for a tensor of shape {self.shape}")
        for d, m in enumerate(ms):
            bad = (m < 0) | (m >= self.shape[d])
            if bad.any():
                raise PygradIndexError(f"index_map: index {int(m[bad][0])} is out of range for dim {d} of a tensor "
                                       f"of shape {self.shape}")
        return _apply(ops.IndexMap(ms), (self,))

    def _take_flat(self, off: np.ndarray) -> Tensor:
        """The getitem op with computed flat offsets: ``y[i] = x.flat[off[i]]``."""
        return self.reshape(-1)[off]

    def _cumprod(self, axis: int) -> Tensor:
        """The cumprod op along a checked ``axis`` (pygrad._derived checks its arguments)."""
        return _apply(ops.CumProd(axis), (_floating(self),))

    def _pad(self, lo: Sequence[int], hi: Sequence[int], value: float) -> Tensor:
        """The pad op: ``lo[d]``, ``hi[d]`` elements of ``value`` before and after each dim (negative: crop;
        checked by pygrad._derived)."""
        return _apply(ops.Pad([int(v) for v in lo], [int(v) for v in hi], float(value)), (self,))

    def _tri(self, k: int, upper: bool) -> Tensor:
        """The tril (triu if ``upper``) op with diagonal ``k`` (checked by pygrad._derived)."""
        return _apply((ops.Triu if upper else ops.Tril)(int(k)), (self,))

    def _cumsum(self, axis: int, reverse: bool = False) -> Tensor:
        """The cumsum op along a checked ``axis`` (Tensor.cumsum checks its arguments)."""
        return _apply(ops.CumSum(axis, reverse), (_floating(self),))

    def mean(
        self, axis: object = None, keepdims: bool = False, *, dim: object = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        """Mean over ``axis`` (None: all); nan over zero elements."""
        return _reduce(ops.Mean, "mean", self, axis, keepdims, dim, keepdim)

    def max(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
            keepdims: Any = None) -> Any:
        """With one int ``dim``: ``(values, indices)`` of the first maximum (PyTorch's
        ``max(dim)``); otherwise the max over ``axis``/``dim`` (values only; ties share the gradient)."""
        if axis is None and keepdims is None and _is_int(dim):
            return _indexing.extreme_over_dim(self, dim, keepdim, True)
        return _reduce(ops.Max, "max", self, axis, builtins.bool(keepdims), dim,
                       keepdim if keepdims is None else None)

    def min(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
            keepdims: Any = None) -> Any:
        """With one int ``dim``: ``(values, indices)`` of the first minimum; otherwise the min over
        ``axis``/``dim`` (values only; ties share the gradient)."""
        if axis is None and keepdims is None and _is_int(dim):
            return _indexing.extreme_over_dim(self, dim, keepdim, False)
        return _reduce(ops.Min, "min", self, axis, builtins.bool(keepdims), dim,
                       keepdim if keepdims is None else None)

    # ---- index primitives (pygrad._indexing builds argmax, sort, topk ... on them) ----
    def _argext(self, dim: builtins.int, keepdim: builtins.bool, want_max: builtins.bool) -> Tensor:
        return _argext(self, dim, keepdim, want_max)

    def _argsort(self, dim: builtins.int, descending: builtins.bool) -> Tensor:
        return _argsort(self, dim, descending)

    def _topk_indices(self, dim: builtins.int, k: builtins.int, largest: builtins.bool) -> Tensor:
        """argsort's first ``k`` along ``dim`` (descending when ``largest``), for ndim >= 1."""
        order = _argsort(self, dim, largest)._data
        return Tensor._wrap(np.ascontiguousarray(order[(slice(None),) * dim + (slice(0, k),)]))

    def _cumext_indices(self, dim: builtins.int, want_max: builtins.bool) -> Tensor:
        return _cumext_indices(self, dim, want_max)

    def _nonzero(self) -> Tensor:
        return Tensor._wrap(np.argwhere(self._data != 0).astype(np.int64).reshape(-1, self.ndim))

    def gather(self, dim: builtins.int, index: Any) -> Tensor:
        """``out[i][j][k] = self[i][index[i][j][k]][k]`` for dim 1 (any dim alike), PyTorch's gather."""
        return _gather_dim(self, dim, index)

    def scatter(self, dim: builtins.int, index: Any, src: Any = None, *, value: Any = None) -> Tensor:
        """Out of place: ``self`` with ``src`` (a tensor or a number) written at ``index`` along
        ``dim``; for a repeated position the last write in index's order wins."""
        return _scatter_dim("scatter", self, dim, index, value if src is None else src)

    def scatter_add(self, dim: builtins.int, index: Any, src: Any) -> Tensor:
        """Out of place: ``self`` with ``src`` added at ``index`` along ``dim`` (repeats add)."""
        return _scatter_dim("scatter_add", self, dim, index, src)

    # --------------------------------------------------------- shape ---

    def reshape(self, *shape: Any) -> Tensor:
        """Same data with a new shape (ints or one tuple; one -1 allowed); shares memory."""
        return _reshape(self, shape)

    def view(self, *shape: Any) -> Tensor:
        """Same as :meth:`reshape` (tensors are always contiguous)."""
        return _reshape(self, shape)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dims (a ``permute``)."""
        return _transpose(self, dim0, dim1)

    def permute(self, *dims: Any) -> Tensor:
        """Reorder dims (ints or one tuple): out.shape[i] = self.shape[dims[i]]."""
        return _permute(self, _sole_tuple(dims), "permute")


# ------------------------------------------------------------ creation ---


def tensor(data: object, dtype: object = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (dtype rules in docs/semantics.md)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


# -------------------------------------------------------------- apply ---


def _interp_check(op: str, t: Tensor, mode: str, size: Any, scale: Any,
                  align_corners: bool) -> tuple[str, tuple[int, ...], tuple[float, ...], bool]:
    """Checks interpolate's op arguments as the C engine does; returns (mode, size, scale, align_corners)."""
    nd, sz, sc = _derived.interp_sizes(op, t, ops.INTERP_MODES, mode, size, scale)
    what = "gradient" if op == "interpolate_input_grad" else "input"
    if KIND[t.dtype] < 2:
        raise PygradTypeError(f"{op}: expected a float32 or float64 tensor, got {np.dtype(t.dtype).name}")
    if not nd:
        raise ShapeError(f"{op}: expected a 3-d (N, C, L) or 4-d (N, C, H, W) {what}, got {t.shape}")
    if 0 in t.shape[1:]:
        raise ShapeError(f"{op}: expected non-zero channels and spatial sizes (only the batch may be empty), got "
                         f"{what} {t.shape}")
    if mode in ("cubic", "linear-aa", "cubic-aa") and nd != 2:
        kind = "cubic" if mode == "cubic" else "antialiased"
        raise ShapeError(f"{op}: the {kind} mode expects a 4-d (N, C, H, W) {what}, got {t.shape}")
    if align_corners and mode.startswith("nearest"):
        raise PygradValueError(f"{op}: align_corners is for the linear and cubic modes only, {what} {t.shape}")
    sizes, scales = tuple(int(v) for v in sz), tuple(float(v or 0) for v in sc)
    if min(sizes) < 1:
        raise PygradValueError(f"{op}: {'input' if what == 'gradient' else 'output'} size {sizes} must be positive, "
                               f"{what} {t.shape}")
    if max(sizes + t.shape[2:]) > 1 << 40:
        raise PygradMemoryError(f"{op}: sizes {sizes} and {what} {t.shape} are too large")
    for v in scales:
        if not (v == 0 or (math.isfinite(v) and v > 0 and 1.0 / v <= float(np.finfo(np.float32).max))):
            raise PygradValueError(f"{op}: scale_factor {v:g} must be positive and finite (0: none), {what} {t.shape}")
    return mode, sizes, scales, bool(align_corners)


def _pool_params(kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                 count_include_pad: bool = True, divisor: int = 0) -> tuple[Any, ...]:
    """The pooling ops' parameters: kernel, stride, padding, dilation as int pairs, ceil_mode,
    count_include_pad, divisor_override (0: none)."""
    def pair(v: Any) -> tuple[int, int]:
        t = tuple(int(a) for a in (v if isinstance(v, (tuple, list)) else (v, v)))
        if len(t) != 2:
            raise PygradValueError(f"pooling: expected 2 values, got {v!r}")
        return t  # type: ignore[return-value]
    return pair(kernel), pair(stride), pair(padding), pair(dilation), bool(ceil_mode), bool(count_include_pad), \
        int(divisor)


def _pool_plan(op: str, x: Any, params: tuple[Any, ...], out: Any) -> tuple[int, int]:
    """Checks a pooling of x (a tensor or a shape (N, C, H, W)) as the C engine does; returns (OH, OW)."""
    if isinstance(x, Tensor) and KIND[x.dtype] < 2:
        raise PygradTypeError(f"{op}: expected a float32 or float64 tensor, got {np.dtype(x.dtype).name}")
    xs = tuple(x.shape) if isinstance(x, Tensor) else tuple(x)
    if len(xs) != 4:
        raise ShapeError(f"{op}: expected a 4-d input (N, C, H, W), got {xs}")
    if 0 in xs[1:]:
        raise ShapeError(f"{op}: expected non-zero channels, height and width (only the batch may be empty), got "
                         f"input {xs}")
    if out is not None:
        if min(out) < 1:
            raise PygradValueError(f"{op}: output size {tuple(out)} must be positive, input {xs}")
        return tuple(out)  # type: ignore[return-value]
    k, s, p, d, ceil = params[:5]
    if min(k + s + d) < 1 or min(p) < 0:
        raise PygradValueError(f"{op}: kernel {k}, stride {s} and dilation {d} must be positive and padding {p} not "
                               f"negative")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise PygradValueError(f"{op}: padding {p} should be at most half of the kernel {k}")
    if params[6] < 0:
        raise PygradValueError(f"{op}: divisor_override {params[6]} must be positive")
    oh, ow = (ops.pool_out(n, k[i], s[i], p[i], d[i], ceil) for i, n in enumerate(xs[2:]))
    if oh < 1 or ow < 1:
        raise ShapeError(f"{op}: the kernel {k} (dilation {d}) is larger than the padded input {xs} (padding {p}): "
                         f"the output would be {oh} x {ow}")
    return oh, ow


def _conv_params(stride: Any, padding: Any, dilation: Any, groups: int) -> tuple[Any, ...]:
    """The conv ops' parameters as int tuples: stride (h, w), padding (top, bottom, left, right), dilation
    (h, w), groups."""
    def ints(v: Any, n: int) -> tuple[int, ...]:
        t = tuple(int(a) for a in (v if isinstance(v, (tuple, list)) else (v,) * n))
        if len(t) != n:
            raise PygradValueError(f"conv2d: expected {n} values, got {v!r}")
        return t
    return ints(stride, 2), ints(padding, 4), ints(dilation, 2), int(groups)


def _conv_dtypes(op: str, a: Tensor, b: Tensor) -> None:
    for t in (a, b):
        if KIND[t.dtype] < 2:
            raise PygradTypeError(f"{op}: expected a float32 or float64 tensor, got {np.dtype(t.dtype).name}")
    if a.dtype != b.dtype:
        raise PygradTypeError(f"{op}: dtypes {np.dtype(a.dtype).name} and {np.dtype(b.dtype).name} differ")


def _conv_plan(op: str, x: Any, w: Any, p: tuple[Any, ...]) -> tuple[int, int]:
    """Checks a convolution of an input (N, C, H, W) by a weight (O, C/groups, KH, KW) (tensors or shapes) as
    the C engine does; returns the output's (OH, OW)."""
    (sh, sw), pad, (dh, dw), groups = p
    if isinstance(x, Tensor) and isinstance(w, Tensor):
        _conv_dtypes(op, x, w)
    xs, ws = tuple(x.shape) if isinstance(x, Tensor) else x, tuple(w.shape) if isinstance(w, Tensor) else w
    if min(sh, sw, dh, dw, groups) < 1:
        raise PygradValueError(f"{op}: stride {(sh, sw)}, dilation {(dh, dw)} and groups {groups} must be positive")
    if min(pad) < 0:
        raise PygradValueError(f"{op}: padding {pad} must not be negative")
    if len(xs) != 4 or len(ws) != 4:
        raise ShapeError(f"{op}: expected a 4-d input (N, C, H, W) and a 4-d weight (O, C/groups, KH, KW), got "
                         f"input {xs} and weight {ws}")
    if xs[1] % groups or ws[0] % groups:
        raise ShapeError(f"{op}: groups {groups} must divide the input channels and the output channels (input "
                         f"{xs}, weight {ws})")
    if ws[1] != xs[1] // groups:
        raise ShapeError(f"{op}: the weight {ws} expects {ws[1]} input channels per group, the input {xs} has "
                         f"{xs[1] // groups} ({groups} groups)")
    if ws[2] < 1 or ws[3] < 1:
        raise ShapeError(f"{op}: the kernel of weight {ws} is empty")
    eh = xs[2] + pad[0] + pad[1] - dh * (ws[2] - 1) - 1
    ew = xs[3] + pad[2] + pad[3] - dw * (ws[3] - 1) - 1
    if eh < 0 or ew < 0:
        raise ShapeError(f"{op}: the kernel of weight {ws} (dilation {(dh, dw)}) is larger than the padded input "
                         f"{xs} (padding {pad})")
    return eh // sh + 1, ew // sw + 1


def _scalar_of(v: float, dtype: Any) -> Any:
    """The Python number v as a numpy scalar of dtype."""
    return np.dtype(dtype).type(v)


def _apply(op: ops.Op, inputs: Sequence[Tensor]) -> Tensor:
    """Run ``op`` on the inputs' arrays and record a node when needed.

    A node is recorded when grad mode is on, some input requires grad and the
    output is float. View ops share the first input's version counter.
    """
    arrays = [t._data for t in inputs]
    try:
        with np.errstate(all="ignore"):
            out = op.run(arrays)
    except MemoryError:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise PygradMemoryError(f"{op.name}: cannot allocate the result for inputs {shapes}") from None
    if not op.is_view and (
        not out.flags.c_contiguous
        or not out.flags.writeable
        or any(np.may_share_memory(out, a) for a in arrays)
    ):
        out = np.array(out, order="C", copy=True)
    _check_ndim(out.shape, op.name)
    if not op.is_view:
        check_forward(op.name, out)
    version = inputs[0]._version if op.is_view else VersionCounter()
    result = Tensor._wrap(out, version)
    needs = tuple(t._requires_grad for t in inputs)
    if is_grad_enabled() and any(needs) and out.dtype.kind == "f":
        if op.save_inputs:
            for i, t in enumerate(inputs):
                if t._inference:
                    raise PygradRuntimeError(
                        f"{op.name}: inference tensors cannot be saved for backward (input {i} was made under "
                        "inference_mode); clone() it outside inference_mode to get a normal tensor and use that "
                        "in autograd")
        node = Node(op, tuple(inputs), needs)
        if op.save_inputs:
            node.saved_inputs = tuple(arrays)
            node.saved_versions.extend((t._version, t._version.value, t.shape) for t in inputs)
        if op.save_output:
            node.saved_output = out
            node.saved_versions.append((version, version.value, out.shape))
        result._node = node
        result._requires_grad = True
        if op.is_view:
            if version.views is None:
                version.views = {}
            version.views[id(result)] = weakref.ref(result)
    return result


# ---------------------------------------------------------- coercion ---


def _operand_ok(x: object) -> bool:
    """Types the operators accept on the other side: Tensor, Python scalar, numpy array/scalar."""
    return isinstance(x, (Tensor, int, float, np.ndarray, np.generic)) or _engines.is_tensor(x)


def _operand(x: object, opname: str) -> Tensor | int | float | bool:
    """A Tensor (numpy arrays converted with :func:`tensor`) or a weak scalar (kept as it is)."""
    if isinstance(x, Tensor):
        return x
    if _is_scalar(x):
        return x  # type: ignore[return-value]
    if isinstance(x, np.ndarray):
        return Tensor(x)
    if _engines.is_tensor(x):
        raise _engines.mix_error(opname, _engines.REFERENCE, x)
    raise PygradTypeError(
        f"{opname}: unsupported operand type {type(x).__name__}; "
        "expected a Tensor, a Python scalar or a numpy array"
    )


def as_tensor(x: object, opname: str) -> Tensor:
    """``x`` as a Tensor: Tensors pass through, scalars and arrays go through :func:`tensor`."""
    v = _operand(x, opname)
    return v if isinstance(v, Tensor) else Tensor(x)


def _cast(t: Tensor, dtype: np.dtype) -> Tensor:
    """``t`` converted to ``dtype`` by a ``cast`` (recorded for float targets; ``t`` itself if already so)."""
    if t.dtype == dtype:
        return t
    return _apply(ops.Cast(dtype), (t,))


def _floating(t: Tensor) -> Tensor:
    """Bool and integer tensors cast to float32 before float ops (PyTorch's rule); float tensors unchanged."""
    return _cast(t, float32) if KIND[t.dtype] < 2 else t


def _result_dtype(a: Tensor, b: Tensor) -> np.dtype:
    """The dtype two tensors meet in: the higher kind; within a kind, a tensor
    with dims over a 0-d one, else the wider dtype (PyTorch's rule)."""
    x, y = a.dtype, b.dtype
    if x == y:
        return x
    if KIND[x] != KIND[y]:
        return x if KIND[x] > KIND[y] else y
    if (a.ndim == 0) != (b.ndim == 0):
        return y if a.ndim == 0 else x
    return x if x.itemsize >= y.itemsize else y


def _common_dtype(ts: Sequence[Tensor]) -> np.dtype:
    """The dtype a sequence of tensors meets in (pairwise :func:`_result_dtype`, left to right)."""
    acc = ts[0]
    for t in ts[1:]:
        dt = _result_dtype(acc, t)
        acc = t if t.dtype == dt else acc
    return acc.dtype


def _promote(ts: Sequence[Tensor]) -> list[Tensor]:
    """Cast all tensors to their common dtype (float32 -> float64 recorded as ``cast``)."""
    dt = _common_dtype(ts)
    return [_cast(t, dt) for t in ts]


def _pair(opname: str, a: object, b: object) -> tuple[Any, Any]:
    """Both operands coerced; two scalars make the first a tensor."""
    x = _operand(a, opname)
    y = _operand(b, opname)
    if not isinstance(x, Tensor) and not isinstance(y, Tensor):
        x = Tensor(x)
    return x, y


def _float_scalar(c: object, opname: str) -> float:
    """A weak scalar as a Python float (bools as 0.0 and 1.0)."""
    if isinstance(c, (bool, np.bool_)):
        return float(bool(c))
    return _number(c, opname, "a scalar operand")


def _weak_dtype(c: object, like: Tensor) -> np.dtype:
    """A weak scalar's dtype beside ``like``: like's when c's kind is not higher, else the kind's default."""
    k = _scalar_kind(c)
    return like.dtype if k <= KIND[like.dtype] else (bool_, int64, float32)[k]


def _scalar_tensor(c: object, like: Tensor) -> Tensor:
    """A 0-d tensor holding the weak scalar ``c`` beside ``like``."""
    dt = _weak_dtype(c, like)
    if dt.kind == "i":
        v = int(c)  # type: ignore[call-overload]
        if not -(2**63) <= v < 2**63:
            raise PygradValueError(f"the scalar {v} does not fit int64")
        return Tensor._wrap(np.array(v, dtype=np.int64).astype(dt))  # int32 wraps, as in the C engine
    return Tensor._wrap(np.array(c, dtype=dt))


def _tensors(opname: str, a: object, b: object) -> tuple[Tensor, Tensor]:
    """Two tensors of one dtype: scalars become 0-d tensors beside the other."""
    x, y = _pair(opname, a, b)
    if not isinstance(x, Tensor):
        x = _scalar_tensor(x, y)  # type: ignore[arg-type]
    if not isinstance(y, Tensor):
        y = _scalar_tensor(y, x)
    x, y = _promote((x, y))
    return x, y


def _binary(op: ops.Op, a: Tensor, b: Tensor) -> Tensor:
    """Broadcast-checked binary op on two tensors of one dtype."""
    broadcast_shape(op.name, a.shape, b.shape)
    return _apply(op, (a, b))


# -------------------------------------------------------- arithmetic ---

_ARITH = {"add": ops.Add, "sub": ops.Sub, "mul": ops.Mul, "div": ops.Div, "pow": ops.Pow, "atan2": ops.Atan2,
          "fmod": ops.Fmod, "remainder": ops.Remainder, "floor_divide": ops.FloorDivide}


def _arith_tensors(opname: str, x: Tensor, y: Tensor) -> Tensor:
    """x (op) y of two tensors: promoted (div is true division: float32 for
    integers and bools; pow of bools is int64; bool - bool is refused)."""
    dt = _result_dtype(x, y)
    if opname in ("div", "atan2") and KIND[dt] < 2:
        dt = float32
    elif opname in ("pow", "fmod", "remainder", "floor_divide") and dt == bool_:
        dt = int64
    elif opname == "sub" and dt == bool_:
        raise PygradTypeError("sub: subtracting two bool tensors is not supported; use ^ (logical xor) instead")
    y = _cast(y, dt)
    if opname in ("fmod", "remainder", "floor_divide") and dt.kind == "i" and not y._data.all():
        raise PygradValueError(f"{opname}: integer division by zero")
    return _binary(_ARITH[opname](), _cast(x, dt), y)


def _division_op(opname: str, a: object, b: object) -> Tensor:
    """atan2, fmod, remainder, floor_divide: a weak scalar operand becomes a 0-d tensor beside the other."""
    x, y = _tensors_unpromoted(opname, a, b)
    return _arith_tensors(opname, x, y)


def _tensors_unpromoted(opname: str, a: object, b: object) -> tuple[Tensor, Tensor]:
    x, y = _pair(opname, a, b)
    if not isinstance(x, Tensor):
        x = _scalar_tensor(x, y)  # type: ignore[arg-type]
    if not isinstance(y, Tensor):
        y = _scalar_tensor(y, x)
    return x, y


def _arith(opname: str, a: object, b: object) -> Tensor:
    """a (op) b for add, sub, mul, div, pow, with weak scalars: a float scalar
    (or any scalar beside a float tensor) runs the scalar op in the tensor's
    float dtype (float32 for integer and bool tensors); an integer or bool
    scalar beside an integer or bool tensor computes in the integers."""
    x, y = _pair(opname, a, b)
    if isinstance(x, Tensor) and isinstance(y, Tensor):
        return _arith_tensors(opname, x, y)
    t, c, left = _split(x, y, opname)
    if KIND[t.dtype] == 2 or _scalar_kind(c) == 2:
        t, c = _floating(t), _float_scalar(c, opname)
        if opname == "add":
            return _apply(ops.AddScalar(c), (t,))
        if opname == "sub":
            if left:
                return _apply(ops.AddScalar(-c), (t,))
            return _apply(ops.AddScalar(c), (_apply(ops.Neg(), (t,)),))
        if opname == "mul":
            return _apply(ops.MulScalar(c), (t,))
        if opname == "div":
            return _apply(ops.DivScalar(c) if left else ops.RDivScalar(c), (t,))
        return _apply(ops.PowScalar(c) if left else ops.RPowScalar(c), (t,))
    if opname == "pow" and left and int(c) < 0:  # type: ignore[call-overload]
        raise PygradValueError("pow: integers to negative integer powers are not allowed (cast to float first)")
    if t.dtype == bool_ and _scalar_kind(c) == 1:
        s = _scalar_tensor(c, Tensor._wrap(np.zeros((), np.int64)))
    else:
        s = _scalar_tensor(c, t)
    return _arith_tensors(opname, t, s) if left else _arith_tensors(opname, s, t)


def _split(x: Any, y: Any, opname: str) -> tuple[Tensor, Any, bool]:
    """One tensor and one scalar as ``(tensor, scalar, tensor_is_left_operand)``."""
    if isinstance(x, Tensor) and not isinstance(y, Tensor):
        return x, y, True
    if isinstance(y, Tensor) and not isinstance(x, Tensor):
        return y, x, False
    raise PygradTypeError(f"{opname}: expected one tensor and one scalar")


def _add(a: object, b: object) -> Tensor:
    """a + b; with a float scalar c: ``add_scalar(x, c)``."""
    return _arith("add", a, b)


def _sub(a: object, b: object) -> Tensor:
    """a - b; ``x - c`` is ``add_scalar(x, -c)``, ``c - x`` is ``add_scalar(neg(x), c)``."""
    return _arith("sub", a, b)


def _mul(a: object, b: object) -> Tensor:
    """a * b; with a float scalar c: ``mul_scalar(x, c)``."""
    return _arith("mul", a, b)


def _div(a: object, b: object) -> Tensor:
    """a / b; ``x / c`` is ``div_scalar(x, c)``, ``c / x`` is ``rdiv_scalar(x, c)`` (true divisions)."""
    return _arith("div", a, b)


def _pow(a: object, b: object) -> Tensor:
    """a ** b: ``x ** c`` is ``pow_scalar(x, c)``, ``c ** x`` is ``rpow_scalar(x, c)``,
    tensor ** tensor is ``pow``."""
    return _arith("pow", a, b)


def _int_neg_abs(t: Tensor, absolute: bool) -> Tensor:
    """-t (|t| when absolute) of an integer tensor, wrapping as the C engine."""
    zero = Tensor._wrap(np.zeros((), t.dtype))
    neg = _arith_tensors("sub", zero, t)
    if not absolute:
        return neg
    return Tensor._wrap(np.where(t._data < 0, neg._data, t._data))


def _unary(op: ops.Op, x: object) -> Tensor:
    """An elementwise op on ``x`` (bool and integers cast to float32 first; neg
    and abs of integers stay integer)."""
    t = as_tensor(x, op.name)
    if KIND[t.dtype] == 1 and op.name in ("neg", "abs"):
        return _int_neg_abs(t, op.name == "abs")
    return _apply(op, (_floating(t),))


def _clamp(x: object, lo: object, hi: object) -> Tensor:
    """min(max(x, lo), hi) with scalar bounds; at least one must be given."""
    if lo is None and hi is None:
        raise PygradValueError("clamp: at least one of min and max must be given")
    lo_f = None if lo is None else _number(lo, "clamp", "min")
    hi_f = None if hi is None else _number(hi, "clamp", "max")
    if (lo_f is not None and math.isnan(lo_f)) or (hi_f is not None and math.isnan(hi_f)):
        raise PygradValueError("clamp: a bound is NaN")
    return _unary(ops.Clamp(lo_f, hi_f), x)


def _extreme2(cls: type[ops.Op], opname: str, a: object, b: object) -> Tensor:
    """maximum / minimum of two operands (scalars become 0-d tensors)."""
    x, y = _tensors(opname, a, b)
    return _binary(cls(), x, y)


def _condition(cond: object) -> Tensor:
    """A ``where`` condition as a bool tensor (bool tensors pass through, arrays are copied)."""
    if isinstance(cond, Tensor):
        c = cond
    elif isinstance(cond, (np.ndarray, np.generic, list, tuple, bool)):
        c = Tensor._wrap(np.array(cond, order="C", copy=True))
    else:
        raise PygradTypeError(
            f"where: condition must be a bool tensor or array, got {type(cond).__name__}"
        )
    if c.dtype != bool_:
        raise PygradTypeError(f"where: condition must be bool, got dtype {c.dtype}")
    return c


def _where(cond: object, a: object, b: object) -> Tensor:
    """cond ? a : b with broadcasting; scalars take the other branch's dtype."""
    c = _condition(cond)
    x, y = _tensors("where", a, b)
    broadcast_shape("where", c.shape, x.shape, y.shape)
    return _apply(ops.Where(), (c, x, y))


def _matmul(a: object, b: object) -> Tensor:
    """a @ b with numpy ``matmul`` rules (1-d promotion, broadcast batch dims)."""
    x, y = _promote((_floating(as_tensor(a, "matmul")), _floating(as_tensor(b, "matmul"))))
    sa, sb = x.shape, y.shape
    if not sa or not sb:
        raise ShapeError(f"matmul: 0-d operands are not allowed: {sa} @ {sb}")
    inner_b = sb[0] if len(sb) == 1 else sb[-2]
    if sa[-1] != inner_b:
        raise ShapeError(f"matmul: inner dimensions differ: {sa} @ {sb}")
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ShapeError(
            f"matmul: batch dimensions {sa[:-2]} and {sb[:-2]} cannot be broadcast "
            f"together: {sa} @ {sb}"
        ) from None
    return _apply(ops.Matmul(), (x, y))


# -------------------------------------------------------- reductions ---


def _reduce(
    cls: type[ops.Reduction], opname: str, x: object, axis: object, keepdims: bool,
    dim: object, keepdim: bool | None,
) -> Tensor:
    """A reduction over ``axis`` (None, int or tuple; ``dim``/``keepdim`` aliases)."""
    axis, keepdims = _resolve_aliases(opname, axis, keepdims, dim, keepdim)
    t = as_tensor(x, opname)
    if cls is ops.Mean:  # sum, max and min of bools and integers are integers
        t = _floating(t)
    axes = normalize_axes(opname, axis, t.shape)
    if cls in (ops.Max, ops.Min) and math.prod(t.shape[i] for i in axes) == 0:
        raise PygradValueError(
            f"{opname}: cannot reduce over zero elements (shape {t.shape}, axis {axis})"
        )
    return _apply(cls(axes, keepdims), (t,))


def _softmax(cls: type[ops.Op], opname: str, x: object, axis: object, dim: object) -> Tensor:
    """softmax / log_softmax along one axis."""
    if dim is not None:
        axis = dim
    t = _floating(as_tensor(x, opname))
    return _apply(cls(normalize_axis(opname, axis, t.shape)), (t,))  # type: ignore[call-arg]


# ------------------------------------------------------------- shape ---


def _reshape(x: object, args: tuple[Any, ...]) -> Tensor:
    """``x`` with a new shape (one -1 inferred); the result shares memory with ``x``."""
    t = as_tensor(x, "reshape")
    shape = parse_shape(args, "reshape", allow_infer=True)
    size = t.size
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: only one dimension can be -1, got {shape}")
    known = math.prod(s for s in shape if s != -1)
    bad = ShapeError(f"reshape: cannot reshape {t.shape} ({size} elements) into {shape}")
    if -1 in shape:
        if known == 0 or size % known:
            raise bad
        shape = tuple(size // known if s == -1 else s for s in shape)
    elif known != size:
        raise bad
    return _apply(ops.Reshape(shape), (t,))


def _permute(x: object, dims: tuple[Any, ...], opname: str) -> Tensor:
    """Reorder dims: out.shape[i] = x.shape[dims[i]] (a copy)."""
    t = as_tensor(x, opname)
    if len(dims) != t.ndim:
        raise ShapeError(
            f"{opname}: dims {dims} are not a permutation of the {t.ndim} axes of shape {t.shape}"
        )
    perm = tuple(normalize_axis(opname, d, t.shape) for d in dims)
    if sorted(perm) != list(range(t.ndim)):
        raise ShapeError(
            f"{opname}: dims {dims} are not a permutation of the {t.ndim} axes of shape {t.shape}"
        )
    return _apply(ops.Permute(perm), (t,))


def _transpose(x: object, dim0: object, dim1: object) -> Tensor:
    """Swap ``dim0`` and ``dim1`` (a ``permute``)."""
    t = as_tensor(x, "transpose")
    a = normalize_axis("transpose", dim0, t.shape)
    b = normalize_axis("transpose", dim1, t.shape)
    perm = list(range(t.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return _apply(ops.Permute(tuple(perm)), (t,))


def _index_part(part: Any) -> Any:
    """One component of an index key in the form numpy expects.

    PyTorch's rule for floats: a float number, list or numpy array as an index
    raises IndexError; an integer or bool Tensor indexes as its array does; a
    float Tensor must hold whole numbers (else IndexError).
    """
    if part is None or part is Ellipsis or isinstance(part, slice):
        return part
    if isinstance(part, (bool, np.bool_)):
        return bool(part)
    if _is_int(part):
        if not -(2**63) <= int(part) < 2**63:
            raise PygradIndexError(f"getitem: index {int(part)} is out of range")
        return int(part)
    if isinstance(part, Tensor):
        arr = part._data
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr) & (arr == np.floor(arr))):
                raise PygradIndexError("getitem: an index tensor must hold whole numbers")
            arr = arr.astype(np.intp)
    elif isinstance(part, list):
        try:
            arr = np.asarray(part)
        except ValueError as exc:  # ragged
            raise PygradTypeError(f"getitem: invalid index list {part!r}: {exc}") from None
        if arr.size == 0:
            arr = arr.astype(np.intp)
    elif isinstance(part, np.ndarray):
        arr = np.array(part, copy=True)  # backward must see the indices of the forward
    else:
        raise PygradIndexError(f"getitem: only integers, slices, None, Ellipsis, integer or bool arrays and "
                               f"tensors of whole numbers are valid indices, got {type(part).__name__}")
    if arr.dtype.kind not in "biu":
        raise PygradIndexError(f"getitem: index arrays and lists must hold integers or bools, got {arr.dtype} "
                               "(pass a Tensor of whole numbers, or an int array)")
    return arr


def _getitem(x: Tensor, key: Any) -> Tensor:
    """x[key] with numpy indexing semantics; the result is a copy."""
    if isinstance(key, tuple):
        norm: Any = tuple(_index_part(k) for k in key)
    else:
        norm = _index_part(key)
    try:
        x._data[norm]
    except IndexError as exc:
        raise PygradIndexError(f"getitem: {exc} (tensor shape {x.shape})") from None
    except (TypeError, ValueError) as exc:
        raise PygradTypeError(f"getitem: {exc} (tensor shape {x.shape})") from None
    return _apply(ops.GetItem(norm), (x,))


def _sequence(opname: str, tensors: object) -> list[Tensor]:
    """A non-empty list/tuple of tensor-likes as tensors of one dtype (all-bool stays bool)."""
    if not isinstance(tensors, (list, tuple)):
        raise PygradTypeError(
            f"{opname}: expected a list or tuple of tensors, got {type(tensors).__name__}"
        )
    if not tensors:
        raise PygradValueError(f"{opname}: expected at least one tensor, got an empty sequence")
    return _promote([as_tensor(t, opname) for t in tensors])


def _concatenate(tensors: object, axis: object, opname: str) -> Tensor:
    """Join tensors along an existing axis; all other dims must match."""
    ts = _sequence(opname, tensors)
    first = ts[0]
    if first.ndim == 0:
        raise ShapeError(f"{opname}: zero-dimensional tensors cannot be concatenated")
    ax = normalize_axis(opname, axis, first.shape)
    for t in ts[1:]:
        if t.ndim != first.ndim or any(
            t.shape[i] != first.shape[i] for i in range(first.ndim) if i != ax
        ):
            raise ShapeError(
                f"{opname}: shapes {first.shape} and {t.shape} differ outside axis {axis}"
            )
    return _apply(ops.Concatenate(ax), ts)


def _stack(tensors: object, axis: object) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    ts = _sequence("stack", tensors)
    first = ts[0]
    for t in ts[1:]:
        if t.shape != first.shape:
            raise ShapeError(
                f"stack: all tensors must have the same shape, got {first.shape} and {t.shape}"
            )
    ax = normalize_axis("stack", axis, first.shape, ndim=first.ndim + 1)
    return _apply(ops.Stack(ax), ts)


# ------------------------------------------------- comparisons, in place ---


def _compare(opname: str, ufunc: Callable[..., Any], a: Tensor, b: object) -> Any:
    """Elementwise comparison -> bool tensor (records nothing). Operands meet as in
    arithmetic; a scalar takes a's dtype when exact there (a bool tensor
    compares as float32; an integer tensor against a fractional or
    out-of-range scalar compares in float64)."""
    if not _operand_ok(b):
        return NotImplemented
    other = _operand(b, opname)
    if isinstance(other, Tensor):
        dt = _result_dtype(a, other)
        broadcast_shape(opname, a.shape, other.shape)
        left, right = a._data.astype(dt, copy=False), other._data.astype(dt, copy=False)
    else:
        c = _float_scalar(other, opname)
        dt = float32 if a.dtype == bool_ else a.dtype
        exact: Any = c
        if dt.kind == "i":
            info = np.iinfo(dt)
            if _scalar_kind(other) == 1 and info.min <= int(other) <= info.max:  # type: ignore[call-overload]
                exact = int(other)  # type: ignore[call-overload]
            elif c == math.trunc(c) and info.min <= c <= info.max:
                exact = int(c)
            else:
                dt = float64
        left = a._data.astype(dt, copy=False)
        right = dt.type(exact)
    return Tensor._wrap(np.asarray(ufunc(left, right)))


def _bitwise(opname: str, ufunc: Callable[..., Any], a: object, b: object) -> Tensor:
    """and/or/xor of bool and integer tensors (logical for bool), promoted and broadcast; records nothing."""
    x, y = _tensors(opname, a, b)
    for t in (x, y):
        if KIND[t.dtype] == 2:
            raise PygradTypeError(f"{opname}: defined for bool and integer tensors, got {t.dtype}")
    broadcast_shape(opname, x.shape, y.shape)
    return Tensor._wrap(np.asarray(ufunc(x._data, y._data)))


def _bitwise_not(x: object) -> Tensor:
    """~x: logical not of a bool tensor, bitwise not of an integer one."""
    t = as_tensor(x, "bitwise_not")
    if KIND[t.dtype] == 2:
        raise PygradTypeError(f"bitwise_not: defined for bool and integer tensors, got {t.dtype}")
    return Tensor._wrap(np.invert(t._data))


def _check_leaf_inplace(t: Tensor, opname: str) -> None:
    """PygradRuntimeError for an in-place op on a leaf requiring grad while grad mode is on,
    or on an inference tensor outside inference mode."""
    if t._inference and not is_inference_mode_enabled():
        raise PygradRuntimeError(f"{opname}: in-place update to an inference tensor outside inference_mode is not "
                                 "allowed; clone() it first")
    if is_grad_enabled() and t._requires_grad and t._node is None:
        raise PygradRuntimeError(
            f"{opname}: a leaf tensor that requires grad (shape {t.shape}) cannot be "
            "modified in place while grad mode is on; wrap the update in no_grad()"
        )


def _rebase(t: Tensor, opname: str, value: Tensor | float | None) -> None:
    """Record ``t (op)= value`` and make ``t`` the output of the new node.

    The op is applied out of place to ``before`` (a snapshot of t's values
    that takes over t's place in the graph), exactly as the out-of-place
    operator would record it (``add``/``sub``/``mul``, or the ``*_scalar``
    forms; ``zero_`` is ``mul_scalar(before, 0)`` with exact zeros written).
    Nodes that saved t's old values see t's bumped version and refuse to run.
    """
    before = Tensor._wrap(t._data.copy())
    before._node = t._node
    before._requires_grad = t._requires_grad
    operand: Tensor | float | None = value
    if value is t:
        operand = before
    elif isinstance(value, Tensor):
        operand = _cast(value, t.dtype)
    if opname == "add_":
        out = _add(before, operand)
    elif opname == "sub_":
        out = _sub(before, operand)
    elif opname == "mul_":
        out = _mul(before, operand)
    else:
        out = _mul(before, 0.0)
        out._data[...] = 0
    t._data[...] = out._data
    if t._node is not None and out._node is not None:
        out._node.retained, t._node.retained = t._node.retained, None
    t._node = out._node
    t._requires_grad = out._requires_grad


def _inplace(t: Tensor, opname: str, other: object) -> Tensor:
    """t (op)= other in t's dtype, other broadcast to t's shape; bumps t's version.

    Recorded (see :func:`_rebase`) when grad mode is on and t or other requires
    grad; a leaf requiring grad cannot be modified in place with grad mode on.
    """
    if t.dtype == bool_:
        raise PygradTypeError(f"{opname}: in-place arithmetic on a bool tensor is not supported")
    value = None if opname == "zero_" else _operand(other, opname)
    _check_leaf_inplace(t, opname)
    if isinstance(value, Tensor):
        shape = broadcast_shape(opname, t.shape, value.shape)
        if shape != t.shape:
            raise ShapeError(
                f"{opname}: shapes {t.shape} and {value.shape} broadcast to {shape}, "
                f"not to the tensor's shape {t.shape}"
            )
    needs_record = t._requires_grad or (isinstance(value, Tensor) and value._requires_grad)
    if is_grad_enabled() and needs_record:
        _check_views(t, opname)
        _rebase(t, opname, value)
    else:
        data = t._data
        if isinstance(value, Tensor):
            o = value._data.astype(t.dtype, copy=False)
            ufunc = {"add_": np.add, "sub_": np.subtract, "mul_": np.multiply}[opname]
            ufunc(data, o, out=data)
        elif value is None:
            data[...] = 0
        else:
            v = float(value) if isinstance(value, (bool, np.bool_)) else value
            if opname == "add_":
                data += t.dtype.type(v)
            elif opname == "sub_":
                data += t.dtype.type(-v)
            else:
                data *= t.dtype.type(v)
    t._version.value += 1
    return t


def custom_op(inputs: Sequence[Tensor], value: Any, backward: Callable[[Tensor, list[bool]], Sequence[Any]]) -> Tensor:
    """Apply a user-defined op whose forward result ``value`` the caller computed.

    ``backward(g, needs)`` receives the output's gradient as a Tensor and a
    flag per input, and returns one gradient (Tensor or None) per input; it
    is called from the backward sweep. The output shares no memory with
    ``value``'s source.
    """
    ins = tuple(inputs)
    for t in ins:
        if not isinstance(t, Tensor):
            if _engines.is_tensor(t):
                raise _engines.mix_error("custom", _engines.REFERENCE, t)
            raise PygradTypeError(f"custom: inputs must be Tensors, got {type(t).__name__}")
    v = value if isinstance(value, Tensor) else as_tensor(value, "custom")
    needs = [t._requires_grad for t in ins]

    def fn(g: np.ndarray) -> list[Any]:
        grads = _engines.custom_grads(backward(Tensor._wrap(np.array(g, copy=True), VersionCounter()), needs), len(ins))
        return [None if gi is None else (gi._data if isinstance(gi, Tensor) else np.asarray(gi)) for gi in grads]

    return _apply(ops.Custom(v._data, fn, (backward, needs)), ins)


def scatter_add(src: Any, shape: Sequence[int], offsets: Any) -> Tensor:
    """``out = zeros(shape); out.flat[offsets[i]] += src.flat[i]`` (repeated offsets add)."""
    t = as_tensor(src, "scatter_add")
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        raise ShapeError(f"scatter_add: negative dimension in shape {dims}")
    off = np.asarray(offsets, dtype=np.int64).reshape(-1)
    if off.size != t.size:
        raise ShapeError(f"scatter_add: {off.size} offsets for a source of shape {t.shape} ({t.size} elements)")
    n = int(np.prod(dims, dtype=np.int64))
    bad = (off < 0) | (off >= n)
    if bad.any():
        raise PygradIndexError(
            f"scatter_add: element offset {int(off[bad][0])} is out of range for a result of shape {dims}")
    return _apply(ops.ScatterAdd(dims, off), (_floating(t),))


def _elementwise_method(op_class: type[ops.Op], doc: str) -> Callable[[Tensor], Tensor]:
    def method(self: Tensor) -> Tensor:
        return _unary(op_class(), self)

    method.__name__, method.__qualname__, method.__doc__ = op_class.name, f"Tensor.{op_class.name}", doc
    return method


for _row in _optable.ELEMENTWISE:  # Tensor.exp, Tensor.sin ...: the reference Op class of that name
    setattr(Tensor, _row.name, _elementwise_method(ops.OPS[_row.name], _row.doc))


# ------------------------------------------------------- index ops ---


def _rows(x: np.ndarray, dim: int) -> np.ndarray:
    """x with dim moved last (a view)."""
    return np.moveaxis(x, dim, -1)


def _argext(t: Tensor, dim: int, keepdim: bool, want_max: bool) -> Tensor:
    """The first index of the extreme along dim (255: flattened); NaN is the extreme."""
    op = "argmax" if want_max else "argmin"
    a = t._data.reshape(-1) if dim == 255 else (t._data.reshape(1) if t.ndim == 0 else t._data)
    d = 0 if dim == 255 or t.ndim == 0 else dim
    if a.shape[d] == 0:
        raise PygradValueError(f"{op}: cannot take the {op} over zero elements (tensor of shape {t.shape})")
    r = _rows(a, d)
    if r.dtype.kind == "f":
        nan = np.isnan(r)
        key = np.where(nan, 0, r)
        idx = (np.argmax(key, axis=-1) if want_max else np.argmin(key, axis=-1))
        has = nan.any(axis=-1)
        idx = np.where(has, np.argmax(nan, axis=-1), idx)
    else:
        idx = np.argmax(r, axis=-1) if want_max else np.argmin(r, axis=-1)
    idx = np.asarray(idx, dtype=np.int64)
    if keepdim:
        idx = np.reshape(idx, (1,) * t.ndim) if dim == 255 else np.expand_dims(idx, d) if t.ndim else idx
    return Tensor._wrap(np.array(idx, order="C"))


def _argsort(t: Tensor, dim: int, descending: bool) -> Tensor:
    """A stable sort's permutation along dim; NaN is the largest value."""
    a = t._data.reshape(1) if t.ndim == 0 else t._data
    r = _rows(a, dim if t.ndim else 0)
    if r.dtype.kind == "f":
        nan = np.isnan(r)
        if descending:  # NaN first, then decreasing; stable among equals
            order = np.argsort(np.where(nan, 0, -r.astype(np.float64)), axis=-1, kind="stable")
            nan_o = np.take_along_axis(nan, order, -1)
            order = np.take_along_axis(order, np.argsort(~nan_o, axis=-1, kind="stable"), -1)
        else:
            order = np.argsort(np.where(nan, 0, r), axis=-1, kind="stable")
            nan_o = np.take_along_axis(nan, order, -1)
            order = np.take_along_axis(order, np.argsort(nan_o, axis=-1, kind="stable"), -1)
    elif descending:
        rev = r[..., ::-1]
        order = r.shape[-1] - 1 - np.argsort(rev, axis=-1, kind="stable")[..., ::-1]
    else:
        order = np.argsort(r, axis=-1, kind="stable")
    out = np.moveaxis(order, -1, dim if t.ndim else 0).astype(np.int64)
    return Tensor._wrap(np.array(out.reshape(t.shape), order="C"))


def _cumext_indices(t: Tensor, dim: int, want_max: bool) -> Tensor:
    """The latest index of the running extreme along dim (ties and NaN update it)."""
    a = t._data.reshape(1) if t.ndim == 0 else t._data
    r = _rows(a, dim if t.ndim else 0)
    out = np.zeros(r.shape, dtype=np.int64)
    flat_r, flat_o = r.reshape(-1, r.shape[-1]), out.reshape(-1, r.shape[-1])
    isf = r.dtype.kind == "f"
    for row, orow in zip(flat_r, flat_o):
        best = 0
        for k in range(row.shape[0]):
            v, b = row[k], row[best]
            bnan = isf and np.isnan(b)
            if k == 0 or (isf and np.isnan(v)) or (not bnan and (v >= b if want_max else v <= b)):
                best = k
            orow[k] = best
    out = np.moveaxis(flat_o.reshape(r.shape), -1, dim if t.ndim else 0)
    return Tensor._wrap(np.array(out.reshape(t.shape), order="C"))


def _dim_index(op: str, t: Tensor, dim: Any, index: Any) -> tuple[int, np.ndarray]:
    """dim normalised and index as an int64 array, checked by PyTorch's gather/scatter rules."""
    d = _indexing._dim(op, dim, t)
    idx = _indexing._index_tensor(op, t, index)._data.astype(np.int64)
    if idx.ndim != t.ndim and not (idx.ndim <= 1 and t.ndim <= 1):
        raise ShapeError(f"{op}: index of shape {idx.shape} must have as many dims as the tensor of shape {t.shape}")
    for k in range(idx.ndim):
        if k != d and idx.shape[k] > t.shape[k]:
            raise ShapeError(f"{op}: index of shape {idx.shape} is larger than the tensor of shape {t.shape} "
                             f"at dim {k}")
    size = t.shape[d] if t.ndim else 1
    bad = (idx < 0) | (idx >= size)
    if bad.any():
        raise PygradIndexError(f"{op}: index {int(idx[bad][0])} is out of bounds for dim {d} with size {size}")
    return d, idx


def _coords(idx: np.ndarray, d: int) -> tuple[np.ndarray, ...]:
    """The numpy index tuple that reads, for each element of idx, position idx along d and its own elsewhere."""
    grids = np.indices(idx.shape, sparse=True) if idx.ndim else ()
    return tuple(idx if k == d else grids[k] for k in range(idx.ndim)) if idx.ndim else (idx,)


def _gather_dim(t: Tensor, dim: Any, index: Any) -> Tensor:
    d, idx = _dim_index("gather", t, dim, index)
    if t.ndim == 0:
        return _getitem(t.reshape(1), (idx,)) if idx.ndim else _getitem(t.reshape(1), idx)
    return _getitem(t, _coords(idx, d))


def _scatter_dim(op: str, t: Tensor, dim: Any, index: Any, src: Any) -> Tensor:
    d, idx = _dim_index(op, t, dim, index)
    if src is None:
        raise PygradTypeError(f"{op}: give src (a tensor) or value (a number)")
    s = src if isinstance(src, Tensor) else (
        Tensor._wrap(np.full(idx.shape, src, dtype=t.dtype)) if _is_scalar(src) else as_tensor(src, op))
    if s.ndim != idx.ndim:
        raise ShapeError(f"{op}: src of shape {s.shape} must have as many dims as index of shape {idx.shape}")
    for k in range(idx.ndim):
        if idx.shape[k] > s.shape[k]:
            raise ShapeError(f"{op}: index of shape {idx.shape} is larger than src of shape {s.shape} at dim {k}")
    block = s if s.shape == idx.shape else _getitem(s, tuple(slice(0, n) for n in idx.shape))
    block = _cast(block, t.dtype)
    strides = np.array([int(np.prod(t.shape[k + 1:])) for k in range(t.ndim)], dtype=np.int64)
    coords = [np.broadcast_to(c, idx.shape) for c in _coords(idx, d)] if t.ndim else [idx]
    off = sum((c.astype(np.int64) * strides[k] for k, c in enumerate(coords)), np.zeros(idx.shape, np.int64)) \
        if t.ndim else idx.astype(np.int64)
    off = np.asarray(off, dtype=np.int64).reshape(-1)
    if t.dtype.kind != "f":  # integers and bools: not recorded
        out = t._data.copy().reshape(-1)
        vals = block._data.reshape(-1)
        if op == "scatter_add":
            if t.dtype == bool_:
                np.logical_or.at(out, off, vals)
            else:
                np.add.at(out, off, vals)
        else:
            out[off] = vals  # numpy: the last of repeated positions wins
        return Tensor._wrap(out.reshape(t.shape))
    flat = block.reshape(-1)
    if op == "scatter_add":
        return _add(t, scatter_add(flat, t.shape, off))
    last = np.full(t.size, -1, dtype=np.int64)
    last[off] = np.arange(off.size)  # the last occurrence of each position
    keep = np.nonzero(last[off] == np.arange(off.size))[0]
    mask = np.zeros(t.size, dtype=bool)
    mask[off[keep]] = True
    written = scatter_add(_getitem(flat, (keep,)), t.shape, off[keep])
    return _where(Tensor._wrap(mask.reshape(t.shape)), written, t)


_indexing.install(Tensor)
_derived.install(Tensor)  # squeeze, flip, var, norm ...: written once for both engines
def _autograd_run(roots: list[Tensor], grads: list[Tensor | None], inputs: list[Tensor] | None, retain_graph: bool,
                  create_graph: bool) -> list[Any] | None:
    """One sweep from several roots (``grads``: upstream gradients, None for ones); with
    ``inputs``, the gradients with respect to them (None where not reached), no ``.grad``
    written; else accumulated into ``.grad`` (see :func:`autograd.sweep`)."""
    seeds: list[Any] = []
    for r, g in zip(roots, grads):
        if create_graph and g is not None and g.dtype == r.dtype:
            seeds.append(g)
            continue
        arr = np.ones(r.shape, dtype=r.dtype) if g is None else np.array(g._data, dtype=r.dtype, copy=True)
        seeds.append(Tensor._wrap(arr) if create_graph else arr)

    def accumulate(t: Tensor, g: Any) -> None:
        if create_graph:
            with enable_grad():
                t._grad = g if t._grad is None else t._grad + g
        else:
            t._accumulate_grad(g)

    return sweep(roots, seeds, inputs, bool(retain_graph or create_graph), create_graph, Tensor._wrap, accumulate)


def _setitem(t: Tensor, key: Any, value: Any) -> None:
    """t[key] = value: the flat positions numpy's indexing selects, written through
    where(mask, scatter of value's last writes, t)."""
    norm: Any = tuple(_index_part(k) for k in key) if isinstance(key, tuple) else _index_part(key)
    try:
        off = np.arange(t.size, dtype=np.int64).reshape(t.shape)[norm]
    except IndexError as exc:
        raise PygradIndexError(f"getitem: {exc} (tensor shape {t.shape})") from None
    except (TypeError, ValueError) as exc:
        raise PygradTypeError(f"getitem: {exc} (tensor shape {t.shape})") from None
    off = np.asarray(off)
    v = value if isinstance(value, Tensor) else (_scalar_tensor(value, t) if _is_scalar(value)
                                                 else as_tensor(value, "setitem"))
    try:
        shape = np.broadcast_shapes(v.shape, off.shape)
    except ValueError:
        shape = None
    if shape != off.shape:
        raise ShapeError(f"setitem: a value of shape {v.shape} cannot be broadcast to the indexed shape {off.shape}")
    flat = off.reshape(-1)
    if KIND[t.dtype] < 2:
        t._data.reshape(-1)[flat] = np.broadcast_to(v._data, off.shape).reshape(-1)
        return
    last = np.full(t.size, -1, dtype=np.int64)
    last[flat] = np.arange(flat.size)
    keep = np.nonzero(last[flat] == np.arange(flat.size))[0]
    mask = np.zeros(t.size, dtype=bool)
    mask[flat[keep]] = True

    def write(x: Tensor) -> Tensor:
        vb = _cast(v, x.dtype)
        vb = vb if vb.shape == off.shape else _add(vb, Tensor._wrap(np.zeros(off.shape, x.dtype)))
        sel = _getitem(vb.reshape(-1), (keep,))
        return _where(Tensor._wrap(mask.reshape(t.shape)), scatter_add(sel, t.shape, flat[keep]), x)

    _inplace_apply(t, "setitem", write, v)


def _inplace_apply(t: Tensor, opname: str, fn: Callable[[Tensor], Tensor], *operands: Any) -> Tensor:
    """t = fn(t), in place, bumping t's version: recorded (t becomes the output of
    fn's node, applied to a snapshot of t standing for it in the graph) when grad
    mode is on and t or an operand requires grad."""
    if t.dtype == bool_:
        raise PygradTypeError(f"{opname}: expected a float32 or float64 tensor, got bool")
    _check_leaf_inplace(t, opname)
    record = is_grad_enabled() and (t._requires_grad or any(isinstance(o, Tensor) and o._requires_grad
                                                              for o in operands))
    if record:
        _check_views(t, opname)
    if record:
        x = Tensor._wrap(t._data.copy())
        x._node = t._node
        x._requires_grad = t._requires_grad
    else:
        x = t
    out = fn(x)
    if out.shape != t.shape:
        raise ShapeError(f"{opname}: the result has shape {out.shape}, which does not match the tensor's shape "
                         f"{t.shape}")
    if out.dtype != t.dtype:
        out = _cast(out, t.dtype)
    t._data[...] = out._data
    if record and out._node is not None:
        if t._node is not None:
            out._node.retained, t._node.retained = t._node.retained, None
        t._node = out._node
        t._requires_grad = True
    t._version.value += 1
    return t


def _scaled(other: object, alpha: float, opname: str) -> Any:
    """alpha * other, for add_/sub_ with alpha (a scalar stays a scalar)."""
    a = _number(alpha, opname, "alpha")
    if _is_scalar(other):
        return _number(other, opname, "other") * a
    o = other if isinstance(other, Tensor) else as_tensor(other, opname)
    return o * a


def _check_views(t: Tensor, opname: str) -> None:
    """A recorded update of a view, or of a tensor a view in the graph shares memory
    with, would leave the other's graph stale: refused (see docs/semantics.md)."""
    views = t._version.views or {}
    for k in [k for k, r in views.items() if r() is None]:  # views that died
        del views[k]
    is_view = (t._node is not None and t._node.op.is_view) or id(t) in views
    if is_view:
        name = t._node.name if t._node is not None else "a view op"
        raise PygradRuntimeError(f"{opname}: the tensor is a view (made by {name}) of a tensor of the graph; "
                                 "an in-place update of it cannot be recorded: update a clone() instead")
    others = sum(1 for k in views if k != id(t))
    if others:
        raise PygradRuntimeError(f"{opname}: the tensor has {others} view(s) (reshape) in the graph sharing its "
                                 "memory; an in-place update of it cannot be recorded: update a clone() instead")
