"""pygrad.distributed: data-parallel training over MPI (the ``distributed`` extra).

    mpiexec -n 2 python train.py

    import pygrad.distributed as dist
    dist.init_process_group()                    # from the MPI environment; world size 1 without mpiexec
    t = pygrad.ones(3)
    dist.all_reduce(t, op=dist.ReduceOp.AVG)     # in place, on the tensor's C buffer
    model = pygrad.nn.parallel.DistributedDataParallel(model)

The transport is MPI through ``mpi4py``; both come with
``pip install "pygrad[distributed]"`` (mpi4py and the ``mpich`` wheel). Without
them, importing this package raises ImportError naming the extra; nothing else
in pygrad imports MPI. The names follow ``torch.distributed``. See
docs/distributed.md.
"""

from __future__ import annotations

try:
    import mpi4py  # noqa: F401  (the binding alone: MPI itself starts in init_process_group)
except ImportError as exc:  # pragma: no cover - exercised by a test in a subprocess
    raise ImportError(
        "pygrad.distributed needs mpi4py and an MPI library, which are not installed; install the optional "
        "extra with `pip install \"pygrad[distributed]\"` (or `pip install mpi4py mpich`)") from exc

from pygrad.distributed.collectives import (
    ReduceOp,
    Work,
    all_gather,
    all_reduce,
    broadcast,
    gather,
    reduce_scatter,
    scatter,
    set_checks,
)
from pygrad.distributed.group import (
    barrier,
    destroy_process_group,
    get_rank,
    get_world_size,
    init_process_group,
    is_initialized,
)
from pygrad.distributed.helpers import is_main_process, main_process_first, print0, progress, save

__all__ = [
    "ReduceOp", "Work", "all_gather", "all_reduce", "barrier", "broadcast", "destroy_process_group", "gather",
    "get_rank", "get_world_size", "init_process_group", "is_initialized", "is_main_process", "main_process_first",
    "print0", "progress", "reduce_scatter", "save", "scatter", "set_checks",
]
