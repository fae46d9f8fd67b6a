"""The process group: MPI started from the environment ``mpiexec`` sets up.

One group exists per process: every rank of ``MPI_COMM_WORLD``, on a private
duplicate of it (so the user's own mpi4py traffic never mixes with pygrad's).
Run without ``mpiexec``, MPI starts as a singleton: world size 1, rank 0, and
every collective is the identity (AVG divides by 1).

When the world has more than one rank, an exception that nobody catches makes
its rank print the traceback and call ``MPI_Abort``, which stops every rank:
the others never wait forever in a collective the failed rank will not join.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from pygrad.errors import PygradRuntimeError, PygradValueError

_state: dict[str, Any] = {"comm": None, "MPI": None, "hook": None}


def _abort_on_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """sys.excepthook on a multi-rank world: report, then take every rank down."""
    comm, MPI = _state["comm"], _state["MPI"]
    previous = _state["hook"] or sys.__excepthook__
    rank = comm.Get_rank() if comm is not None else "?"
    sys.stderr.write(f"pygrad.distributed: rank {rank} raised {kind.__name__}; aborting every rank\n")
    previous(kind, value, tb)
    sys.stderr.flush()
    sys.stdout.flush()
    if comm is not None and MPI is not None and not MPI.Is_finalized():
        MPI.COMM_WORLD.Abort(1)


def init_process_group(backend: str = "mpi", abort_on_exception: bool = True) -> None:
    """Start MPI (if not started) and create the process group; calling it again does nothing.

    ``backend`` must be ``"mpi"`` (the only transport). With
    ``abort_on_exception`` (the default) and more than one rank, an uncaught
    exception on any rank aborts all of them (``MPI_Abort``) instead of leaving
    the others blocked in a collective.
    """
    if backend != "mpi":
        raise PygradValueError(f"init_process_group: backend must be 'mpi' (pygrad communicates over MPI), "
                               f"got {backend!r}")
    if _state["comm"] is not None:
        return
    from mpi4py import MPI  # starts MPI (MPI_Init_thread) unless the program already did

    _state["MPI"] = MPI
    _state["comm"] = MPI.COMM_WORLD.Dup()
    if abort_on_exception and _state["comm"].Get_size() > 1 and sys.excepthook is not _abort_on_uncaught:
        _state["hook"] = sys.excepthook
        sys.excepthook = _abort_on_uncaught


def destroy_process_group() -> None:
    """Free the group's communicator (MPI itself stays up until the process ends); the
    uncaught-exception hook is removed. ``init_process_group`` may be called again."""
    comm = _state["comm"]
    if comm is None:
        return
    if sys.excepthook is _abort_on_uncaught:
        sys.excepthook = _state["hook"] or sys.__excepthook__
    _state["comm"] = None
    _state["hook"] = None
    if not _state["MPI"].Is_finalized():
        comm.Free()


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has run (and the group was not destroyed)."""
    return _state["comm"] is not None


def comm(op: str = "pygrad.distributed") -> Any:
    """The group's mpi4py communicator; raises if :func:`init_process_group` has not run."""
    c = _state["comm"]
    if c is None:
        raise PygradRuntimeError(f"{op}: the process group is not initialized; call "
                                 "pygrad.distributed.init_process_group() first")
    return c


def mpi() -> Any:
    """The ``mpi4py.MPI`` module (after :func:`init_process_group`)."""
    comm()
    return _state["MPI"]


def get_rank() -> int:
    """This process's rank, 0 ≤ rank < world size."""
    return comm("get_rank").Get_rank()


def get_world_size() -> int:
    """The number of processes in the group."""
    return comm("get_world_size").Get_size()


def barrier() -> None:
    """Wait until every rank has reached this call."""
    comm("barrier").Barrier()
