"""``torch.utils.data`` for code written for PyTorch: ``Dataset``, ``TensorDataset``, ``DataLoader``,
``Subset``, ``ConcatDataset``, ``random_split``, the samplers and ``default_collate``, with PyTorch's
signatures and batches (tensors of the items' dtypes: int64 for Python ints, float64 for Python floats,
a numpy array's own dtype, tensors stacked), so that a training loop runs unchanged.

:class:`pygrad.data.DataLoader` is the loader written for this project's own examples (arrays X and
y, labels kept as numpy arrays, exact resume); this one follows PyTorch. Batches are made in the
calling process: ``num_workers``, ``pin_memory`` and the other worker settings are accepted and change
nothing. ``generator`` is a numpy Generator or an int seed. Tensors are made by the engine of
``pygrad.utils.data`` (``PYGRAD_BACKEND``), or by the reference engine from
``pygrad.reference.utils.data``.
"""

from __future__ import annotations

import collections.abc
import math
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np

from pygrad import _engines
from pygrad.data import (
    ConcatDataset,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    random_split,
)
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError
from pygrad.nn._backend import resolve

__all__ = ["Dataset", "TensorDataset", "DataLoader", "Subset", "ConcatDataset", "random_split",
           "SequentialSampler", "RandomSampler", "BatchSampler", "default_collate"]


class TensorDataset(Dataset):
    """Item i is ``tuple(t[i] for t in tensors)``; every tensor has the same first dimension."""

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise PygradValueError("TensorDataset: give at least one tensor")
        for t in tensors:
            if not _engines.is_tensor(t):
                raise PygradTypeError(f"TensorDataset: expected tensors, got {type(t).__name__}")
            if t.ndim == 0:
                raise ShapeError("TensorDataset: tensors need a first (sample) dimension, got a 0-d tensor")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ShapeError(f"TensorDataset: size mismatch between tensors, first dims "
                             f"{[t.shape[0] for t in tensors]}")
        self.tensors = tensors

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])

    def __getitem__(self, i: Any) -> tuple[Any, ...]:
        return tuple(t[i] for t in self.tensors)


class BatchSampler:
    """Batches of ``batch_size`` indices from ``sampler`` (the last one smaller unless ``drop_last``)."""

    def __init__(self, sampler: Any, batch_size: int, drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise PygradValueError(f"BatchSampler: batch_size must be a positive int, got {batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), bool(drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


def _collate(batch: list[Any], E: ModuleType) -> Any:  # noqa: N803
    elem = batch[0]
    if _engines.is_tensor(elem):
        return E.stack(list(batch), 0)
    if isinstance(elem, (np.ndarray, np.number, np.bool_)):
        return E.tensor(np.stack([np.asarray(b) for b in batch]))
    if isinstance(elem, bool):
        return E.tensor(batch, dtype=E.bool_)
    if isinstance(elem, int):
        return E.tensor(batch, dtype=E.int64)
    if isinstance(elem, float):
        return E.tensor(batch, dtype=E.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {k: _collate([b[k] for b in batch], E) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple keeps its type
        return type(elem)(*(_collate(list(f), E) for f in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise ShapeError("default_collate: each item of a batch must have the same number of fields")
        return [_collate(list(f), E) for f in zip(*batch)]
    raise PygradTypeError(f"default_collate: cannot batch items of type {type(elem).__name__}")


def default_collate(batch: list[Any], engine: Any = None) -> Any:
    """PyTorch's default collation: tensors stacked on a new first dim, numpy arrays and numbers made
    into tensors (Python ints int64, floats float64, bools bool), mappings and sequences collated field
    by field (a tuple's fields come back as a list, a namedtuple as itself), strings kept as a list."""
    if not batch:
        raise PygradValueError("default_collate: the batch is empty")
    return _collate(list(batch), resolve(engine))


class DataLoader:
    """PyTorch's ``DataLoader(dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
    num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, ..., generator=None)``:
    iterates over batches of the dataset's items made by ``collate_fn`` (``default_collate``);
    ``batch_size=None`` yields the items one by one (collated as single items). A
    :class:`TensorDataset` is batched by indexing its tensors once per batch."""

    _engine: Any = None

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None, sampler: Any = None,
                 batch_sampler: Any = None, num_workers: int = 0, collate_fn: Any = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Any = None,
                 multiprocessing_context: Any = None, generator: Any = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "") -> None:
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise PygradTypeError(f"DataLoader: dataset must have __len__ and __getitem__, got "
                                  f"{type(dataset).__name__}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise PygradValueError(f"DataLoader: num_workers must be a non-negative int, got {num_workers!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise PygradTypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        if sampler is not None and shuffle:
            raise PygradValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise PygradValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                                       "shuffle, sampler, and drop_last")
            batch_size = None
        elif batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                         or batch_size < 1):
            raise PygradValueError(f"DataLoader: batch_size must be a positive int or None, got {batch_size!r}")
        if generator is not None and not isinstance(generator, (np.random.Generator, int, np.integer)):
            raise PygradTypeError(f"DataLoader: generator must be a numpy.random.Generator or an int seed, got "
                                  f"{type(generator).__name__}")
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, bool(drop_last)
        self.num_workers, self.pin_memory, self.collate_fn = int(num_workers), bool(pin_memory), collate_fn
        self.generator = generator
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        self.sampler = sampler
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, int(batch_size), self.drop_last)
        self.batch_sampler = batch_sampler

    def __len__(self) -> int:
        return len(self.batch_sampler) if self.batch_sampler is not None else len(self.sampler)

    def __iter__(self) -> Iterator[Any]:
        E = resolve(self._engine)  # noqa: N806
        collate = self.collate_fn or (lambda items: _collate(items, E))
        if self.batch_sampler is None:
            for i in self.sampler:
                yield collate([self.dataset[i]]) if self.collate_fn else _single(self.dataset[i], E)
            return
        fast = self.collate_fn is None and isinstance(self.dataset, TensorDataset)
        for idx in self.batch_sampler:
            if fast:
                rows = E.tensor(np.asarray(idx, dtype=np.int64))
                yield [t.index_select(0, rows) if _engines.engine_of(t) is E else
                       E.tensor(t.numpy()[np.asarray(idx)]) for t in self.dataset.tensors]
            else:
                yield collate([self.dataset[i] for i in idx])


def _single(item: Any, E: ModuleType) -> Any:  # noqa: N803
    """batch_size=None: an item converted as PyTorch's default_convert does (arrays and numbers to
    tensors, containers field by field, tensors as they are)."""
    if _engines.is_tensor(item) or isinstance(item, (str, bytes)):
        return item
    if isinstance(item, (np.ndarray, np.number, np.bool_)):
        return E.tensor(np.asarray(item))
    if isinstance(item, collections.abc.Mapping):
        return {k: _single(v, E) for k, v in item.items()}
    if isinstance(item, (list, tuple)):
        return [_single(v, E) for v in item] if not hasattr(item, "_fields") else \
            type(item)(*(_single(v, E) for v in item))
    return item


def bound(engine: str) -> ModuleType:
    """This module's names with the loader's tensors made by ``engine`` (for pygrad.reference.utils)."""
    import sys

    mod = ModuleType("pygrad.reference.utils.data" if engine == "reference" else __name__, __doc__)
    here = sys.modules[__name__]
    for name in __all__:
        setattr(mod, name, getattr(here, name))
    loader = type("DataLoader", (DataLoader,), {"_engine": engine, "__doc__": DataLoader.__doc__,
                                                  "__module__": mod.__name__})
    mod.DataLoader = loader  # type: ignore[attr-defined]
    mod.default_collate = lambda batch: default_collate(batch, engine)  # type: ignore[attr-defined]
    return mod
