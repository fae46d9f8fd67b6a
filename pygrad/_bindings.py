"""The seam to the C engine: the only module that imports the compiled extension.

It owns cffi's ``ffi`` and ``lib``: it loads ``pygrad._pygrad``, installs the
binding's blocking hooks, turns C status codes into Python exceptions
(:func:`_check`), wraps new C tensor handles in Tensor objects (:func:`_wrap`),
and defines the callbacks through which the C backward sweep calls user
backward functions. The other modules of the C engine call the C functions
through :data:`lib` (bound once here, a plain module namespace) and reach
anything cffi-specific (buffers, handles, addresses) through the small helpers
below; no module outside the C engine touches either.
"""

from __future__ import annotations

import threading
import types
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
int64: np.dtype = np.dtype(np.int64)
int32: np.dtype = np.dtype(np.int32)

_DTYPE_OF_CODE = {lib.PG_DTYPE_F32: float32, lib.PG_DTYPE_F64: float64, lib.PG_DTYPE_BOOL: bool_,
                  lib.PG_DTYPE_I64: int64, lib.PG_DTYPE_I32: int32}
_CODE_OF_DTYPE = {d: c for c, d in _DTYPE_OF_CODE.items()}
_TYPESTR = {lib.PG_DTYPE_F32: "<f4", lib.PG_DTYPE_F64: "<f8", lib.PG_DTYPE_BOOL: "|b1",
            lib.PG_DTYPE_I64: "<i8", lib.PG_DTYPE_I32: "<i4"}

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


_callback_state = threading.local()  # an exception raised inside a C-called Python function


def _raise_last() -> None:
    """Raise the exception that describes the last C failure on this thread.

    When the failure was a user backward raising inside the C sweep, that
    exception itself is re-raised, with its traceback.
    """
    code = lib.pg_last_status()
    exc = getattr(_callback_state, "exc", None)
    if exc is not None:  # taken whatever the status, so a stored exception never outlives its sweep
        _callback_state.exc = None
        if code == lib.PG_ERR_CALLBACK:
            try:
                raise exc
            finally:  # no reference from this frame: the traceback would make a cycle
                exc = None
    msg = ffi.string(lib.pg_last_error()).decode("utf-8", "replace") or "unknown error in the C engine"
    raise _ERRORS.get(code, PygradRuntimeError)(msg)


def _check(status: int) -> None:
    if status:
        _raise_last()



# The Tensor class of the C engine, set by pygrad._tensor when it loads (it
# imports this module): _wrap and the callbacks make Tensors without importing it.
Tensor: Any = None
_new_tensor = object.__new__


def set_tensor_class(cls: type) -> None:
    """Register the C engine's Tensor class (called once by :mod:`pygrad._tensor`)."""
    global Tensor
    Tensor = cls


def _wrap(p: Any) -> Any:
    """Own a new C reference (NULL means the call failed)."""
    if not p:
        _raise_last()
    t = _new_tensor(Tensor)
    t._p = p
    return t


# ---------------------------------------------------------------------------
# cffi-specific helpers for the rest of the C engine
# ---------------------------------------------------------------------------


def int64_buffer(arr: np.ndarray) -> Any:
    """A C ``int64_t *`` over a contiguous int64 numpy array (no copy; keep ``arr`` alive)."""
    return ffi.from_buffer("int64_t[]", arr)


def tensor_array(tensors: list[Any]) -> Any:
    """A C array of the tensors' handles (keep the tensors alive while it is used)."""
    return ffi.new("pg_tensor *[]", [t._p for t in tensors])


def tensor_slot() -> Any:
    """A one-element C array ``pg_tensor *[1]`` (NULL) for a function that hands back a second tensor;
    wrap its element with ``_wrap`` after the call."""
    return ffi.new("pg_tensor *[1]")


def handles(tensors: list[Any], n: int | None = None) -> Any:
    """A C array of the tensors' handles, or of n NULL slots (never of length 0)."""
    return ffi.new("pg_tensor *[]", [t._p for t in tensors] or 1) if n is None else ffi.new("pg_tensor *[]", n or 1)


def wrap_or_none(p: Any) -> Any:
    """Own a new C reference that may be NULL (None then)."""
    return None if p == ffi.NULL else _wrap(p)


def doubles(values: Any) -> Any:
    """A C double array of the values."""
    return ffi.new("double[]", list(values) or 1)


def uint64s(values: Any) -> Any:
    """A C uint64_t array of the values."""
    return ffi.new("uint64_t[]", list(values) or 1)


def last_error() -> str:
    """The message of the last C failure on this thread."""
    return ffi.string(lib.pg_last_error()).decode()


def new_program() -> Any:
    """A new pg_program (pygrad.compile), freed when the returned handle dies."""
    p = lib.pg_program_new()
    if p == ffi.NULL:
        _raise_last()
    return ffi.gc(p, lib.pg_program_free)


def program_lines(prog: Any) -> list[str]:
    """A program's instructions as text, one per line."""
    buf = ffi.new("char[]", 512)
    lines = []
    for i in range(lib.pg_program_size(prog)):
        lib.pg_program_line(prog, i, buf, 512)
        lines.append(ffi.string(buf).decode())
    return lines


def address(ptr: Any) -> int:
    """A C pointer as an int (a stable key for the object it points to)."""
    return int(ffi.cast("uintptr_t", ptr))


def c_string(ptr: Any) -> str:
    """A NUL-terminated C string as a Python str."""
    return ffi.string(ptr).decode()


def own_node(ptr: Any) -> Any:
    """Take ownership of a new node reference: released when the returned object dies."""
    return ffi.gc(ptr, lib.pg_node_release)


def memory_stats_struct() -> Any:
    """A zeroed ``pg_memory_stats`` for :func:`lib.pg_get_memory_stats` to fill."""
    return ffi.new("pg_memory_stats *")


# ---------------------------------------------------------------------------
# user-defined ops: Python backward functions called from the C sweep
# ---------------------------------------------------------------------------

_handles: dict[int, Any] = {}  # keeps each backward function alive while C holds its handle


def _describe(exc: BaseException) -> bytes:
    """The C error message for an exception raised by a user backward. Never raises:
    its ``__str__`` may raise, hold lone surrogates (``os.fsdecode``), or the stack
    may be exhausted (RecursionError); then a fixed message stands in."""
    try:
        text = f"custom: backward raised {type(exc).__name__}: {exc}"
        return text.encode("utf-8", "backslashreplace")[:900]
    except BaseException:  # noqa: BLE001 - any failure to format must not lose the exception
        try:
            return f"custom: backward raised {type(exc).__name__}".encode("utf-8", "backslashreplace")[:900]
        except BaseException:  # noqa: BLE001
            return b"custom: backward raised an exception"


def _store_callback_error(exc: BaseException) -> None:
    """Keep ``exc`` for the thread that called backward and mark the C status as a
    callback failure (so :func:`_raise_last` re-raises ``exc``)."""
    _callback_state.exc = exc
    lib.pg_set_error(lib.PG_ERR_CALLBACK, _describe(exc))


def _on_callback_error(exc_type: Any, exc: BaseException | None, tb: Any) -> None:
    # cffi calls this if the callback's own error handling failed; the callback then returns 1
    if exc is not None and getattr(_callback_state, "exc", None) is None:
        _callback_state.exc = exc
    lib.pg_set_error(lib.PG_ERR_CALLBACK, b"custom: backward raised an exception")


# error=1: whatever escapes the callback, the sweep sees a failure (never a silent success)
@ffi.def_extern(error=1, onerror=_on_callback_error)
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
        _store_callback_error(exc)
        return 1


@ffi.def_extern()
def _pg_py_custom_release(ctx: Any) -> None:
    _handles.pop(int(ffi.cast("uintptr_t", ctx)), None)



def custom_node(inputs: list[Any], value: Any, fn: Callable[[Any, list[bool]], list[Any]]) -> Any:
    """Record a user-defined op (``pg_custom``) whose backward is the Python function ``fn``.

    ``fn(g, needs)`` gets the output's gradient and one flag per input and
    returns one Tensor or None per input; it is kept alive while C holds it.
    """
    h = ffi.new_handle(fn)
    _handles[int(ffi.cast("uintptr_t", h))] = h
    arr = tensor_array(inputs) if inputs else _NULL
    return _wrap(lib.pg_custom(arr, len(inputs), value._p, lib._pg_py_custom_backward, lib._pg_py_custom_release, h))


# ---------------------------------------------------------------------------
# tensor hooks: one callback for every tensor, its context the tensor's HookSet
# ---------------------------------------------------------------------------


def _hook_result(new: Any, old: Any) -> Any:
    """A gradient a hook returned, checked: a C-engine Tensor of the gradient's shape and dtype."""
    if not isinstance(new, Tensor):
        from pygrad import _engines
        from pygrad.errors import PygradTypeError

        if _engines.is_tensor(new):
            raise _engines.mix_error("hook", old, new)
        raise PygradTypeError(f"hook: a hook must return a Tensor or None, got {type(new).__name__}")
    return new


@ffi.def_extern(error=1, onerror=_on_callback_error)
def _pg_py_tensor_hook(ctx: Any, kind: int, t: Any, grad: Any, replace: Any) -> int:
    try:
        hooks = ffi.from_handle(ctx)
        if kind == lib.PG_HOOK_GRAD:
            lib.pg_tensor_retain(grad)
            g = hooks.run_grad(_wrap(grad), _hook_result)
            if g._p != grad:
                lib.pg_tensor_retain(g._p)
                replace[0] = g._p
        else:
            owner = hooks.owner()
            if owner is None:
                lib.pg_tensor_retain(t)
                owner = _wrap(t)
            hooks.run_post(owner)
        return 0
    except BaseException as exc:  # handed to the thread that called backward
        _store_callback_error(exc)
        return 1


def tensor_hooks(t: Any, create: bool) -> Any:
    """The HookSet of C tensor ``t`` (a new one installed when ``create``), or None."""
    ctx = lib.pg_tensor_hooks_ctx(t._p)
    if ctx != _NULL:
        return ffi.from_handle(ctx)
    if not create:
        return None
    from pygrad._hooks import HookSet

    hooks = HookSet(t)
    h = ffi.new_handle(hooks)
    _handles[int(ffi.cast("uintptr_t", h))] = h
    _check(lib.pg_tensor_set_hooks(t._p, 0, lib._pg_py_tensor_hook, h, lib._pg_py_custom_release))
    return hooks


def set_hook_kinds(t: Any, hooks: Any) -> None:
    """Tell the engine which kinds of hooks ``t`` has now."""
    kinds = (lib.PG_HOOK_GRAD if hooks.grad else 0) | (lib.PG_HOOK_POST_ACCUMULATE if hooks.post else 0)
    ctx = lib.pg_tensor_hooks_ctx(t._p)
    _check(lib.pg_tensor_set_hooks(t._p, kinds, lib._pg_py_tensor_hook, ctx, lib._pg_py_custom_release))


def autograd_run(roots: list[Any], grads: list[Any], inputs: list[Any] | None, retain_graph: bool,
                 create_graph: bool) -> list[Any] | None:
    """The C sweep (``pg_autograd_run``) from several roots; with ``inputs``, the
    gradients with respect to them (None where not reached), no ``.grad`` written."""
    r = tensor_array(roots)
    g = ffi.new("pg_tensor *[]", [_NULL if x is None else x._p for x in grads])
    if inputs is None:
        _check(lib.pg_autograd_run(r, g, len(roots), _NULL, 0, bool(retain_graph), bool(create_graph), _NULL))
        return None
    res = ffi.new("pg_tensor *[]", len(inputs))
    _check(lib.pg_autograd_run(r, g, len(roots), tensor_array(inputs), len(inputs), bool(retain_graph),
                               bool(create_graph), res))
    return [None if res[i] == _NULL else _wrap(res[i]) for i in range(len(inputs))]
# tensors over memory another library owns (pygrad.from_dlpack)
# ---------------------------------------------------------------------------

_external: dict[int, Any] = {}  # keeps each borrowed array alive while a C storage points into it


@ffi.def_extern()
def _pg_py_external_release(ctx: Any) -> None:
    # Called by C exactly once, on whichever thread drops the storage's last
    # reference; cffi takes the GIL for the call. Dropping the handle drops the
    # array, and with it the producer's buffer (its DLPack deleter runs).
    _external.pop(int(ffi.cast("uintptr_t", ctx)), None)


def external_tensor(array: np.ndarray) -> Any:
    """A C tensor over ``array``'s own memory (no copy).

    ``array`` must be C-contiguous, aligned, non-empty, of a dtype the engine
    has; it is kept alive until the C storage (shared by every view of the
    tensor) is released, on any thread.
    """
    h = ffi.new_handle(array)
    _external[int(ffi.cast("uintptr_t", h))] = h
    data = ffi.cast("void *", array.__array_interface__["data"][0])
    # on failure C has already called the release callback, which dropped the handle
    return _wrap(lib.pg_tensor_from_external(data, _CODE_OF_DTYPE[array.dtype], array.ndim, list(array.shape),
                                             lib._pg_py_external_release, h))
