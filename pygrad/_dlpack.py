"""DLPack, both directions, and ``__array__``, for both engines (numpy only; no engine imported here).

Import: :func:`borrow` turns anything with ``__dlpack__`` (a numpy array, a
torch or JAX tensor, a pygrad tensor) or a DLPack capsule into a numpy array
over the producer's own memory, through ``numpy.from_dlpack``; the array holds
the producer's buffer until it dies (then the producer's deleter runs).
:func:`check_copy` says whether an engine can use that memory as it is (else it
copies). Each engine wraps the array its own way: the reference engine's
tensors are numpy arrays, the C engine makes a tensor over external memory
(``pg_tensor_from_external``) that keeps the array alive.

Export: :func:`export` is ``Tensor.__dlpack__`` over the tensor's zero-copy
numpy view (which keeps the tensor's storage alive), refusing tensors that
require grad as PyTorch does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pygrad.errors import PygradRuntimeError, PygradTypeError

CPU_DEVICE: tuple[int, int] = (1, 0)
"""``__dlpack_device__()`` of every pygrad tensor: (kDLCPU, device 0)."""

# DLPack's device types (dlpack.h, DLDeviceType) whose memory the CPU can read directly
_CPU_READABLE = {1: "CPU", 3: "CUDA host (pinned)", 11: "ROCm host (pinned)", 13: "CUDA managed"}
_DEVICE_NAMES = {2: "CUDA", 4: "OpenCL", 7: "Vulkan", 8: "Metal", 9: "VPI", 10: "ROCm", 12: "ExtDev",
                 14: "oneAPI", 15: "WebGPU", 16: "Hexagon", 17: "MAIA"}

# the dtypes both engines hold as they are; others are converted as ``tensor()`` converts them
SHARED_DTYPES = frozenset(np.dtype(d) for d in (np.float32, np.float64, np.int64, np.int32, np.bool_))


class _Capsule:
    """A bare DLPack capsule (the legacy interface) offered through ``__dlpack__``,
    the protocol ``numpy.from_dlpack`` asks for. A capsule can be consumed once."""

    __slots__ = ("_capsule",)

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __dlpack__(self, stream: Any = None, max_version: Any = None, dl_device: Any = None,
                   copy: Any = None) -> Any:
        return self._capsule


def _is_capsule(obj: Any) -> bool:
    return type(obj).__name__ == "PyCapsule" and type(obj).__module__ == "builtins"


class _Writable:
    """``__array_interface__`` over a borrowed array's memory, writable, keeping the array alive."""

    __slots__ = ("__array_interface__", "_base")

    def __init__(self, arr: np.ndarray) -> None:
        self._base = arr
        self.__array_interface__ = {"shape": arr.shape, "typestr": arr.dtype.str, "strides": arr.strides,
                                    "data": (arr.__array_interface__["data"][0], False), "version": 3}


def borrow(obj: Any, op: str = "from_dlpack") -> tuple[np.ndarray, bool]:
    """A numpy array over the memory of ``obj`` (no copy), keeping ``obj``'s buffer alive,
    and whether the producer marked that memory read-only.

    ``obj``: an object with ``__dlpack__`` or a DLPack capsule. TypeError for
    anything else and for dtypes pygrad has no counterpart for (complex,
    bfloat16, ...); BufferError (naming the device) for memory the CPU cannot
    read.

    The capsule is asked for as DLPack 1.0 (versioned, with a read-only flag),
    or in the legacy form when the producer is older. numpy marks the arrays
    of legacy capsules read-only, since they cannot say; PyTorch shares them
    as writable, and so does pygrad (a producer that cannot signal read-only
    memory exports only writable memory: numpy refuses to export a read-only
    array that way), so only a versioned capsule's flag counts.
    """
    if _is_capsule(obj):
        capsule = obj
    elif hasattr(obj, "__dlpack__"):
        device = getattr(obj, "__dlpack_device__", None)
        if device is not None:
            kind, index = device()
            if int(kind) not in _CPU_READABLE:
                name = _DEVICE_NAMES.get(int(kind), f"device type {int(kind)}")
                raise BufferError(f"{op}: the tensor is on a {name} device ({int(kind)}, {int(index)}); pygrad "
                                  "tensors live in CPU memory: move it to the CPU first (for example .cpu())")
        try:
            capsule = obj.__dlpack__(max_version=(1, 0))
        except TypeError:  # a producer of the legacy protocol, without max_version
            capsule = obj.__dlpack__()
    else:
        raise PygradTypeError(f"{op}: expected an object with __dlpack__ (a numpy array, a torch or JAX tensor, "
                              f"a pygrad tensor) or a DLPack capsule, got {type(obj).__name__}")
    versioned = '"dltensor_versioned"' in repr(capsule)
    try:
        arr = np.from_dlpack(_Capsule(capsule))
    except BufferError as exc:
        raise BufferError(f"{op}: {exc}") from exc
    except (TypeError, RuntimeError) as exc:  # numpy: "Unsupported dtype in DLTensor." (bfloat16, ...)
        if isinstance(exc, RuntimeError) and "dtype" not in str(exc):
            raise
        dtype = getattr(obj, "dtype", None)
        named = f" (the producer's dtype: {dtype})" if dtype is not None else ""
        raise PygradTypeError(f"{op}: {exc}{named}") from exc
    if arr.dtype.kind not in "biuf":
        raise PygradTypeError(f"{op}: pygrad has no dtype for {arr.dtype} data (it has float32, float64, int64, "
                              "int32 and bool; smaller integer and float16 data are widened)")
    return arr, versioned and not arr.flags.writeable


def writable(arr: np.ndarray) -> np.ndarray:
    """``arr`` itself, or a writable array over the same memory that keeps ``arr`` alive
    (for the arrays numpy marks read-only only because their capsule could not say)."""
    return arr if arr.flags.writeable else np.asarray(_Writable(arr))


def why_copy(arr: np.ndarray, read_only: bool) -> str | None:
    """None when an engine can hold ``arr``'s memory as a tensor as it is (a
    dtype it has, row-major contiguous, aligned, not marked read-only by its
    producer, since a tensor can be written in place, and not empty: nothing to
    share); else why the values must be copied."""
    f = arr.flags
    if arr.dtype not in SHARED_DTYPES:
        return f"{arr.dtype} data (pygrad converts it)"
    if not f.c_contiguous:
        return f"strided data (strides {arr.strides}; pygrad tensors are row-major contiguous)"
    if not f.aligned:
        return "data not aligned to its element size"
    if read_only:
        return "memory its producer marked read-only"
    if arr.size == 0 or arr.ndim > 8:
        return f"shape {arr.shape}"
    return None


def check_copy(arr: np.ndarray, read_only: bool, copy: bool | None, op: str = "from_dlpack") -> bool:
    """Whether ``from_dlpack(..., copy=copy)`` copies ``arr``: always for True, when
    :func:`why_copy` says so for None; BufferError for False when a copy is needed."""
    if copy:
        return True
    reason = why_copy(arr, read_only)
    if reason is not None and copy is False:
        raise BufferError(f"{op}: {reason} cannot be shared, and copy=False forbids a copy")
    return reason is not None


def export(arr: np.ndarray, requires_grad: bool, stream: Any = None, max_version: Any = None,
           dl_device: Any = None, copy: Any = None) -> Any:
    """``Tensor.__dlpack__``: a DLPack capsule over ``arr`` (the tensor's zero-copy view).

    The capsule holds ``arr``, and ``arr`` holds the tensor's storage, so the
    consumer may outlive the tensor. ``max_version`` (1, 0) or later gives a
    versioned capsule, ``copy=True`` a copy, as the Python array API specifies.
    """
    if requires_grad:
        raise PygradRuntimeError("__dlpack__: cannot export a tensor that requires grad (DLPack carries no "
                                 "graph); use tensor.detach() first, as PyTorch asks")
    if stream is not None:
        raise BufferError(f"__dlpack__: pygrad tensors are CPU tensors and take stream=None, got {stream!r}")
    if dl_device is not None and tuple(int(v) for v in dl_device) != CPU_DEVICE:
        raise BufferError(f"__dlpack__: pygrad tensors live on the CPU {CPU_DEVICE}, asked for device "
                          f"{tuple(dl_device)}")
    return arr.__dlpack__(max_version=max_version, copy=copy)


def as_array(arr: np.ndarray, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
    """``Tensor.__array__`` over the tensor's zero-copy view ``arr``, with numpy 2's
    ``copy`` keyword: None copies only to convert, True always copies, False never
    does (ValueError when converting would need a copy)."""
    if dtype is not None and np.dtype(dtype) != arr.dtype:
        if copy is False:
            raise ValueError(f"__array__: a {arr.dtype} tensor as {np.dtype(dtype)} needs a copy, and copy=False "
                             "forbids one")
        return arr.astype(dtype)
    return arr.copy() if copy else arr
