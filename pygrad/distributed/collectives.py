"""Collectives on pygrad tensors: all_reduce, broadcast, all_gather, reduce_scatter, gather, scatter.

Every collective works in place on the tensors' own C buffers: ``t.numpy()``
is a zero-copy view of the buffer, and MPI reads and writes it through the
buffer protocol, so no byte is copied on the way in or out (the one local
copy is the caller's own slot in all_gather / gather / scatter, between two
distinct tensors). Every dtype pygrad has travels as its MPI type; bool
reduces with logical ops (SUM and MAX are OR, PRODUCT and MIN are AND).

Agreement check: before moving data, the ranks compare a checksum of what
each passed (collective, op, dtypes, shapes, root) in one 16-byte all-reduce.
If they differ, or an argument was bad on some rank, every rank raises the
same error naming each rank's tensors, instead of corrupting data or waiting
forever. The check costs one small message latency per call; turn it off
with :func:`set_checks` once a program is known to be right.

With ``async_op=True`` a collective returns a :class:`Work` whose ``wait()``
completes it (for AVG, ``wait()`` also divides); the tensors must not be
read or written until then.
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

import pygrad
from pygrad.distributed import group
from pygrad.errors import PygradError, PygradIndexError, PygradTypeError, PygradValueError, ShapeError

_TAG = 7171  # point-to-point tag of gather / scatter on the group's private communicator
_checks = {"on": True}
_IN_PLACE: list[Any] = [None]  # MPI.IN_PLACE, set with the first op lookup


class ReduceOp(enum.Enum):
    """How :func:`all_reduce` and :func:`reduce_scatter` combine the ranks' values."""

    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


def set_checks(enabled: bool) -> bool:
    """Turn the cross-rank agreement check of every collective on or off (it is on by default);
    returns the previous setting. Must be set the same way on every rank."""
    before = _checks["on"]
    _checks["on"] = bool(enabled)
    return before


class Work:
    """A collective in flight (``async_op=True``): ``wait()`` blocks until it is done."""

    def __init__(self, requests: Sequence[Any], finish: Callable[[], None] | None, keep: Sequence[Any]) -> None:
        self._requests = list(requests)
        self._finish = finish
        self._keep = list(keep)  # the tensors and arrays MPI is using stay alive until wait()
        self._done = False

    def wait(self) -> bool:
        """Complete the collective (idempotent); returns True."""
        if not self._done:
            if self._requests:
                group.mpi().Request.Waitall(self._requests)
            self._done = True
            if self._finish is not None:
                self._finish()
            self._keep.clear()
        return True

    def is_completed(self) -> bool:
        """Whether the collective has finished (completing it if it has)."""
        if not self._done and self._requests and not group.mpi().Request.Testall(self._requests):
            return False
        return self.wait()


def _run(requests: list[Any], finish: Callable[[], None] | None, keep: Sequence[Any], async_op: bool
         ) -> Work | None:
    w = Work(requests, finish, keep)
    if async_op:
        return w
    w.wait()
    return None


def _view(op: str, t: Any, what: str = "tensor") -> np.ndarray:
    """The zero-copy numpy view of ``t``'s buffer (pygrad tensors are contiguous)."""
    if not isinstance(t, pygrad.Tensor):
        raise PygradTypeError(f"{op}: {what} must be a pygrad.Tensor, got {type(t).__name__}")
    return t.numpy()


def _describe(a: np.ndarray) -> str:
    return f"{a.dtype} {tuple(a.shape)}"


def _agree(op: str, desc: str, error: Exception | None,
           rule: str = "every rank must pass the same dtype and shape, and the same op and root") -> None:
    """Make sure every rank called ``op`` with the same description and no local error;
    otherwise raise on every rank. ``desc`` holds what must match (dtypes, shapes, op, root)."""
    c = group.comm(op)
    if not _checks["on"] or c.Get_size() == 1:
        if error is not None:
            raise error
        return
    MPI = group.mpi()
    key = -1 if error is not None else zlib.crc32(desc.encode())
    both = np.array([key, -key], dtype=np.int64)
    c.Allreduce(MPI.IN_PLACE, both, op=MPI.MAX)  # [max key, -min key]
    if error is None and both[0] == key and -both[1] == key:
        return
    seen = c.allgather(f"error: {error}" if error is not None else desc)
    if error is not None:
        raise error
    lines = "; ".join(f"rank {r}: {d}" for r, d in enumerate(seen))
    raise ShapeError(f"{op}: the ranks disagree ({rule}): {lines}")


def _check_root(op: str, root: int, size: int, what: str) -> None:
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < size:
        raise PygradIndexError(f"{op}: {what} must be a rank in [0, {size}), got {root!r}")


def _mpi_op(op: str, reduce_op: Any, a: np.ndarray) -> Any:
    MPI = group.mpi()
    _IN_PLACE[0] = MPI.IN_PLACE
    if not isinstance(reduce_op, ReduceOp):
        raise PygradTypeError(f"{op}: op must be a pygrad.distributed.ReduceOp, got {reduce_op!r}")
    if a.dtype == np.bool_:
        if reduce_op is ReduceOp.AVG:
            raise PygradTypeError(f"{op}: ReduceOp.AVG needs a floating dtype, got a bool tensor of shape {a.shape}")
        return MPI.LOR if reduce_op in (ReduceOp.SUM, ReduceOp.MAX) else MPI.LAND
    if reduce_op is ReduceOp.AVG and a.dtype.kind != "f":
        raise PygradTypeError(f"{op}: ReduceOp.AVG needs a floating dtype, got {a.dtype} of shape {a.shape}")
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX, ReduceOp.MIN: MPI.MIN,
            ReduceOp.PRODUCT: MPI.PROD}[reduce_op]


def _divider(a: np.ndarray, reduce_op: ReduceOp, size: int) -> Callable[[], None] | None:
    if reduce_op is not ReduceOp.AVG or size == 1:
        return None
    return lambda: np.divide(a, size, out=a)


_OPS: dict[tuple[int, str], Any] = {}  # (id(op), dtype kind) -> MPI op, for the combinations seen valid
# (keyed by id: an Enum member's hash runs Python code, and this lookup is on every call)


def all_reduce(tensor: Any, op: ReduceOp = ReduceOp.SUM, async_op: bool = False) -> Work | None:
    """Combine ``tensor`` over all ranks, in place: afterwards every rank holds
    op(t₀, t₁, …) elementwise (AVG: the sum divided by the world size)."""
    c = group._state["comm"] or group.comm("all_reduce")
    a, mpi_op, error = None, None, None
    if isinstance(tensor, pygrad.Tensor):  # the hot path: two dict lookups before MPI
        a = tensor.numpy()
        mpi_op = _OPS.get((id(op), a.dtype.kind))
    if mpi_op is None:
        try:
            a = _view("all_reduce", tensor)
            mpi_op = _OPS[(id(op), a.dtype.kind)] = _mpi_op("all_reduce", op, a)
        except PygradError as exc:
            error = exc
    if error is not None or _checks["on"]:
        _agree("all_reduce", f"all_reduce {getattr(op, 'name', op)} {_describe(a) if a is not None else ''}", error)
    size = c.Get_size()
    if size == 1:
        return _run([], None, (), async_op) if async_op else None
    if async_op:
        return _run([c.Iallreduce(_IN_PLACE[0], a, op=mpi_op)], _divider(a, op, size), (tensor, a), True)
    c.Allreduce(_IN_PLACE[0], a, op=mpi_op)
    if op is ReduceOp.AVG:
        np.divide(a, size, out=a)
    return None


def all_reduce_array(a: np.ndarray, average: bool) -> None:
    """SUM (or AVG) all-reduce of a contiguous numpy array in place, without the agreement
    check: for callers that checked their layout once (DistributedDataParallel)."""
    c = group.comm("all_reduce")
    if c.Get_size() == 1:
        return
    MPI = group.mpi()
    c.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
    if average:
        np.divide(a, c.Get_size(), out=a)


def iall_reduce_array(a: np.ndarray) -> Any:
    """Start a SUM all-reduce of a contiguous numpy array in place, without the agreement check;
    returns the MPI request (None for a world of one). The caller waits on it and divides for AVG."""
    c = group.comm("all_reduce")
    if c.Get_size() == 1:
        return None
    return c.Iallreduce(group.mpi().IN_PLACE, a, op=group.mpi().SUM)


def broadcast(tensor: Any, src: int = 0, async_op: bool = False) -> Work | None:
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every other rank."""
    c = group.comm("broadcast")
    a, error = None, None
    try:
        a = _view("broadcast", tensor)
        _check_root("broadcast", src, c.Get_size(), "src")
    except PygradError as exc:
        error = exc
    _agree("broadcast", f"broadcast src={src} {_describe(a) if a is not None else ''}", error)
    if c.Get_size() == 1:
        return _run([], None, (), async_op)
    if async_op:
        return _run([c.Ibcast(a, root=src)], None, (tensor, a), True)
    c.Bcast(a, root=src)
    return None


def _list_views(op: str, tensors: Any, like: np.ndarray, size: int, what: str) -> list[np.ndarray]:
    if not isinstance(tensors, (list, tuple)) or len(tensors) != size:
        n = len(tensors) if isinstance(tensors, (list, tuple)) else type(tensors).__name__
        raise PygradValueError(f"{op}: {what} must be a list of {size} tensors (one per rank), got {n}")
    views = [_view(op, t, f"{what}[{i}]") for i, t in enumerate(tensors)]
    for i, v in enumerate(views):
        if v.dtype != like.dtype or v.shape != like.shape:
            raise ShapeError(f"{op}: {what}[{i}] is {_describe(v)} but the tensor is {_describe(like)}; "
                             "every entry must have the tensor's dtype and shape")
    return views


def all_gather(tensor_list: list[Any], tensor: Any, async_op: bool = False) -> Work | None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` on every rank (``tensor_list``: one
    tensor per rank, each of ``tensor``'s dtype and shape)."""
    c = group.comm("all_gather")
    size, rank = c.Get_size(), c.Get_rank()
    a, views, error = None, None, None
    try:
        a = _view("all_gather", tensor)
        views = _list_views("all_gather", tensor_list, a, size, "tensor_list")
    except PygradError as exc:
        error = exc
    _agree("all_gather", f"all_gather {_describe(a) if a is not None else ''}", error)
    if views[rank] is not a and not np.shares_memory(views[rank], a):
        np.copyto(views[rank], a)
    if size == 1:
        return _run([], None, (), async_op)
    # one broadcast per rank, straight into the receiving tensors: no staging buffer
    reqs = [c.Ibcast(views[r], root=r) for r in range(size)]
    return _run(reqs, None, (tensor_list, tensor, views, a), async_op)


def reduce_scatter(output: Any, input_list: list[Any], op: ReduceOp = ReduceOp.SUM, async_op: bool = False
                   ) -> Work | None:
    """``output`` on rank r becomes op over ranks of ``input_list[r]`` (``input_list``: one tensor
    per rank, each of ``output``'s dtype and shape)."""
    c = group.comm("reduce_scatter")
    size, rank = c.Get_size(), c.Get_rank()
    a, views, mpi_op, error = None, None, None, None
    try:
        a = _view("reduce_scatter", output, "output")
        views = _list_views("reduce_scatter", input_list, a, size, "input_list")
        mpi_op = _mpi_op("reduce_scatter", op, a)
    except PygradError as exc:
        error = exc
    _agree("reduce_scatter", f"reduce_scatter {getattr(op, 'name', op)} {_describe(a) if a is not None else ''}",
           error)
    MPI = group.mpi()
    same = views[rank].__array_interface__["data"][0] == a.__array_interface__["data"][0]
    own = MPI.IN_PLACE if same else views[rank]
    if size == 1:
        if not same:
            np.copyto(a, views[rank])
        return _run([], None, (), async_op)
    reqs = [c.Ireduce(own if r == rank else views[r], a if r == rank else None, op=mpi_op, root=r)
            for r in range(size)]
    return _run(reqs, _divider(a, op, size), (output, input_list, views, a), async_op)


def gather(tensor: Any, gather_list: list[Any] | None = None, dst: int = 0, async_op: bool = False
           ) -> Work | None:
    """Rank ``dst`` receives every rank's ``tensor`` into ``gather_list`` (one tensor per rank,
    each of ``tensor``'s dtype and shape); the other ranks pass ``gather_list=None``."""
    c = group.comm("gather")
    size, rank = c.Get_size(), c.Get_rank()
    a, views, error = None, None, None
    try:
        a = _view("gather", tensor)
        _check_root("gather", dst, size, "dst")
        if rank == dst:
            views = _list_views("gather", gather_list, a, size, "gather_list")
        elif gather_list is not None:
            raise PygradValueError(f"gather: only rank dst={dst} passes a gather_list (this is rank {rank})")
    except PygradError as exc:
        error = exc
    _agree("gather", f"gather dst={dst} {_describe(a) if a is not None else ''}", error)
    if rank == dst:
        np.copyto(views[rank], a)
        reqs = [c.Irecv(views[r], source=r, tag=_TAG) for r in range(size) if r != rank]
    else:
        reqs = [c.Isend(a, dest=dst, tag=_TAG)]
    return _run(reqs, None, (tensor, gather_list, views, a), async_op)


def scatter(tensor: Any, scatter_list: list[Any] | None = None, src: int = 0, async_op: bool = False
            ) -> Work | None:
    """Rank r's ``tensor`` receives ``scatter_list[r]`` of rank ``src`` (one tensor per rank, each of
    ``tensor``'s dtype and shape); the other ranks pass ``scatter_list=None``."""
    c = group.comm("scatter")
    size, rank = c.Get_size(), c.Get_rank()
    a, views, error = None, None, None
    try:
        a = _view("scatter", tensor)
        _check_root("scatter", src, size, "src")
        if rank == src:
            views = _list_views("scatter", scatter_list, a, size, "scatter_list")
        elif scatter_list is not None:
            raise PygradValueError(f"scatter: only rank src={src} passes a scatter_list (this is rank {rank})")
    except PygradError as exc:
        error = exc
    _agree("scatter", f"scatter src={src} {_describe(a) if a is not None else ''}", error)
    if rank == src:
        np.copyto(a, views[rank])
        reqs = [c.Isend(views[r], dest=r, tag=_TAG) for r in range(size) if r != rank]
    else:
        reqs = [c.Irecv(a, source=src, tag=_TAG)]
    return _run(reqs, None, (tensor, scatter_list, views, a), async_op)
