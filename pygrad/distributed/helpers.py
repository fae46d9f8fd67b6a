"""Rank-aware helpers: print and show progress on rank 0 only, save from rank 0 only.

They work with or without an initialized process group (without one, this
process counts as rank 0 of a world of 1), so a script can call them
unconditionally.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

from pygrad.distributed import group


def _rank() -> int:
    return group.get_rank() if group.is_initialized() else 0


def is_main_process() -> bool:
    """Whether this process is rank 0 (True without a process group)."""
    return _rank() == 0


def print0(*args: Any, **kwargs: Any) -> None:
    """``print`` on rank 0 only (the other ranks print nothing)."""
    if is_main_process():
        kwargs.setdefault("flush", True)
        print(*args, **kwargs)


def progress(iterable: Iterable[Any], **tqdm_kwargs: Any) -> Iterable[Any]:
    """``iterable`` wrapped in a tqdm progress bar on rank 0 when tqdm is installed; the bare
    iterable on the other ranks (and without tqdm)."""
    if not is_main_process():
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, **tqdm_kwargs)


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Run the block on rank 0 first, then on the other ranks (e.g. rank 0 downloads or
    caches a data set the others then read)."""
    if not group.is_initialized():
        yield
        return
    if not is_main_process():
        group.barrier()
    try:
        yield
    finally:
        if is_main_process():
            group.barrier()


def save(obj: Any, path: str | os.PathLike[str]) -> str | None:
    """Write ``obj`` with :func:`pygrad.save` from rank 0 only, then wait at a barrier so every
    rank can read the file afterwards (:func:`pygrad.load`). A Module (or
    DistributedDataParallel) is saved as its ``state_dict()``. Returns the path written on
    rank 0 (None on the others)."""
    import pygrad
    from pygrad.nn import Module

    written = None
    if is_main_process():
        pygrad.save(obj.state_dict() if isinstance(obj, Module) else obj, path)
        written = os.fspath(path)
    if group.is_initialized():
        group.barrier()
    return written
