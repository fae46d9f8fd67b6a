"""Data for training: a minibatch loader over numpy arrays and small built-in datasets.

    >>> X, y = pygrad.data.spiral(100, 3, seed=0)          # (300, 2) points, 300 labels
    >>> loader = pygrad.data.DataLoader(X, y, batch_size=32, shuffle=True, seed=0)
    >>> for xb, yb in loader:                              # xb: Tensor (≤32, 2), yb: int64 array
    ...     ...

For data-parallel training, :class:`DistributedSampler` gives each rank its
shard of the indices and ``DataLoader(..., sampler=sampler)`` batches them::

    sampler = pygrad.data.DistributedSampler(len(X), shuffle=True, seed=0)   # rank and world from MPI
    loader = pygrad.data.DataLoader(X, y, batch_size=32, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                           # a new shuffle per epoch, the same on every rank
        for xb, yb in loader: ...

Datasets that need no download: :func:`spiral` (CS231n's spiral classes) and
:func:`moons` (two interleaving half circles); :func:`digits` (the 8×8
handwritten digits) comes from scikit-learn when it is installed
(``pip install "pygrad[digits]"``).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

import numpy as np

from pygrad.errors import PygradTypeError, PygradValueError, ShapeError
from pygrad.nn._backend import resolve


def _positive_int(op: str, what: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise PygradValueError(f"{op}: {what} must be a positive int, got {n!r}")
    return int(n)


def _is_dataset(x: Any) -> bool:
    """A map-style dataset (``__len__`` and ``__getitem__``) that is not itself an array."""
    return (hasattr(x, "__len__") and hasattr(x, "__getitem__") and not isinstance(x, (np.ndarray, list, tuple))
            and not hasattr(x, "__array__") and not hasattr(x, "__array_interface__"))


class Dataset:
    """The map-style dataset protocol (PyTorch's): ``__len__`` and ``__getitem__(i)``.
    Subclassing is optional: :class:`DataLoader` takes any object with both."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> Any:
        raise NotImplementedError


class TensorDataset(Dataset):
    """Rows of equally long arrays (or tensors), item i being the tuple of their i-th rows."""

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise PygradValueError("TensorDataset: give at least one array")
        self.arrays = [np.asarray(a.numpy() if hasattr(a, "numpy") else a) for a in arrays]
        n = len(self.arrays[0])
        if any(len(a) != n for a in self.arrays):
            raise ShapeError(f"TensorDataset: arrays of lengths {[len(a) for a in self.arrays]} differ")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, i: int) -> tuple[Any, ...]:
        return tuple(a[i] for a in self.arrays)


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order (PyTorch's ``Subset``)."""

    def __init__(self, dataset: Any, indices: Any) -> None:
        if not _is_dataset(dataset) and not hasattr(dataset, "__getitem__"):
            raise PygradTypeError(f"Subset: dataset must have __len__ and __getitem__, got {type(dataset).__name__}")
        idx = [int(i) for i in indices]
        n = len(dataset)
        bad = [i for i in idx if not -n <= i < n]
        if bad:
            raise PygradValueError(f"Subset: index {bad[0]} is out of range for a dataset of {n} items")
        self.dataset, self.indices = dataset, idx

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.dataset[self.indices[i]]


class ConcatDataset(Dataset):
    """The items of several datasets one after the other (PyTorch's ``ConcatDataset``)."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise PygradValueError("ConcatDataset: give at least one dataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, i: int) -> Any:
        n = len(self)
        if not -n <= i < n:
            raise PygradValueError(f"ConcatDataset: index {i} is out of range for {n} items")
        i %= n
        k = bisect.bisect_right(self.cumulative_sizes, i)
        return self.datasets[k][i - (self.cumulative_sizes[k - 1] if k else 0)]


def random_split(dataset: Any, lengths: Any, generator: Any = None) -> list[Subset]:
    """Disjoint random subsets of ``dataset`` of the given ``lengths`` (ints summing to its length, or
    fractions summing to 1: the remainder goes round-robin to the first parts, as PyTorch's).
    ``generator``: a numpy Generator or an int seed (None: a fresh one)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(v, float) for v in lengths) and math.isclose(sum(lengths), 1.0, abs_tol=1e-9):
        if any(v < 0 for v in lengths):
            raise PygradValueError(f"random_split: fractions must be non-negative, got {lengths}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for k in range(n - sum(counts)):
            counts[k % len(counts)] += 1
        lengths = counts
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in lengths):
        raise PygradValueError(f"random_split: lengths must be non-negative ints or fractions summing to 1, got "
                               f"{lengths}")
    if sum(lengths) != n:
        raise PygradValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, the dataset has {n} items")
    rng = generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator)
    order = rng.permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, order[start:start + k].tolist()))
        start += k
    return out


class SequentialSampler:
    """The indices 0 .. n-1 in order (``DataLoader(..., sampler=...)``)."""

    def __init__(self, data_source: Any) -> None:
        self.n = len(data_source)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


class RandomSampler:
    """A random order of the indices, a new one per pass (``replacement``: ``num_samples`` draws with
    replacement). ``generator``: a numpy Generator or an int seed."""

    def __init__(self, data_source: Any, replacement: bool = False, num_samples: int | None = None,
                 generator: Any = None) -> None:
        self.n = len(data_source)
        self.replacement = bool(replacement)
        self.num_samples = self.n if num_samples is None else _positive_int("RandomSampler", "num_samples",
                                                                            num_samples)
        if not self.replacement and num_samples is not None and self.num_samples != self.n:
            raise PygradValueError("RandomSampler: num_samples other than the dataset's length needs "
                                   "replacement=True")
        self.rng = generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator)

    def __iter__(self) -> Iterator[int]:
        if self.replacement:
            return iter(self.rng.integers(0, self.n, self.num_samples).tolist())
        return iter(self.rng.permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.num_samples


class DataLoader:
    """Iterate over (X, y) in minibatches of ``batch_size`` rows.

    ``X``: an array of N rows (any trailing shape); ``y``: N labels or targets, or
    None (the loader then yields X batches alone). ``shuffle`` draws a new order
    every epoch from a generator seeded once with ``seed`` (the same seed gives
    the same sequence of epochs); ``drop_last`` drops a final batch smaller than
    ``batch_size``. With ``tensors=True`` (the default) X batches are Tensors of
    ``engine`` (by default the engine ``import pygrad`` serves) with ``dtype`` (None: the engine's rule,
    numpy float64 stays float64), as are float targets; integer labels stay
    int64 numpy arrays (the losses take them as they take int64 tensors).
    With ``tensors=False`` every batch is a numpy array.

    ``sampler``: an iterable of row indices with a length (e.g. a
    :class:`DistributedSampler`) that gives the order of the rows instead of
    ``shuffle``; each epoch iterates it afresh.

    ``X`` may also be a dataset: any object with ``__len__`` and ``__getitem__``
    (PyTorch's map-style Dataset protocol) whose items are arrays, numbers, or
    tuples or dicts of them; a batch stacks the items field by field (a dict
    item gives a dict of batches, the first key's as X; ``y`` must then be
    None: the fields are the batch).

    ``collate_fn``: with a dataset, a function from the list of a batch's items to the batch
    (replacing the field-by-field stacking). ``num_workers``, ``pin_memory`` and
    ``persistent_workers`` are accepted for PyTorch code and change nothing: batches are made in the
    calling process.

    ``generator``: a ``numpy.random.Generator`` (or an int seed) to shuffle with,
    instead of ``seed``. :meth:`state_dict` / :meth:`load_state_dict` save and
    restore the loader's position, also in the middle of an epoch: a restored
    loader yields exactly the batches the original would have yielded next.
    """

    def __init__(self, X: Any, y: Any = None, batch_size: int = 32, shuffle: bool = False,
                 seed: int | None = None, drop_last: bool = False, tensors: bool = True, dtype: Any = None,
                 engine: ModuleType | str | None = None, sampler: Iterable[int] | None = None,
                 generator: Any = None, collate_fn: Any = None, num_workers: int = 0, pin_memory: bool = False,
                 persistent_workers: bool = False) -> None:
        self.dataset = None
        if collate_fn is not None and not callable(collate_fn):
            raise PygradTypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise PygradValueError(f"DataLoader: num_workers must be a non-negative int, got {num_workers!r}")
        self.collate_fn, self.num_workers, self.pin_memory = collate_fn, int(num_workers), bool(pin_memory)
        if _is_dataset(X):
            if y is not None:
                hint = (f" (for PyTorch's DataLoader(dataset, {y!r}), pass batch_size={y!r}, or use "
                        f"pygrad.utils.data.DataLoader, which takes PyTorch's arguments in its order)"
                        if isinstance(y, (int, np.integer)) and not isinstance(y, bool) else "")
                raise PygradValueError("DataLoader: with a dataset, y must be None (the dataset's items are the "
                                       "batch's fields)" + hint)
            self.dataset = X
            n = len(X)
            if n == 0:
                raise PygradValueError("DataLoader: the dataset is empty")
            X = np.empty((n, 0))  # the row count; items come from the dataset
        self.X = np.asarray(X)
        if self.X.ndim == 0:
            raise ShapeError("DataLoader: X must have a first (sample) dimension, got a scalar")
        if self.X.dtype.kind not in "biuf":
            raise PygradTypeError(f"DataLoader: X must be numeric, got dtype {self.X.dtype}")
        self.y = None if y is None else np.asarray(y)
        if self.y is not None and (self.y.ndim == 0 or len(self.y) != len(self.X)):
            raise ShapeError(f"DataLoader: X has {len(self.X)} samples (shape {self.X.shape}) but y has shape "
                             f"{self.y.shape}")
        if len(self.X) == 0:
            raise PygradValueError(f"DataLoader: the dataset is empty (X of shape {self.X.shape})")
        self.batch_size = _positive_int("DataLoader", "batch_size", batch_size)
        self.shuffle = bool(shuffle)
        if sampler is not None:
            if self.shuffle:
                raise PygradValueError("DataLoader: sampler and shuffle=True exclude each other (the sampler "
                                       "gives the order; DistributedSampler shuffles itself)")
            if not hasattr(sampler, "__iter__") or not hasattr(sampler, "__len__"):
                raise PygradTypeError(f"DataLoader: sampler must be an iterable of indices with a length, got "
                                      f"{type(sampler).__name__}")
        self.sampler = sampler
        self.drop_last = bool(drop_last)
        self.tensors = bool(tensors)
        self.dtype = dtype
        self._engine = engine
        if generator is not None and seed is not None:
            raise PygradValueError("DataLoader: give seed or generator, not both")
        if generator is not None and not isinstance(generator, (np.random.Generator, int, np.integer)):
            raise PygradTypeError(f"DataLoader: generator must be a numpy.random.Generator or an int seed, got "
                                  f"{type(generator).__name__}")
        self._rng = generator if isinstance(generator, np.random.Generator) else \
            np.random.default_rng(seed if generator is None else int(generator))
        self._epoch_state: Any = None   # the generator's state when the current epoch drew its order
        self._done = 0                  # batches of the current epoch already yielded
        self._resume: int | None = None  # batches to skip on the next epoch (after load_state_dict)
        self._epoch_sampler: Any = None  # the sampler's state when the current epoch drew its order

    def _sampler_state(self) -> Any:
        """The state of a ``sampler`` that draws its order at random, to resume it exactly: its own
        ``state_dict()`` when it has one, else the state of its numpy Generator (``rng`` or
        ``generator``, as RandomSampler's); None for a sampler without state."""
        smp = self.sampler
        if smp is None:
            return None
        if callable(getattr(smp, "state_dict", None)) and callable(getattr(smp, "load_state_dict", None)):
            return {"state_dict": smp.state_dict()}
        for name in ("rng", "generator"):
            g = getattr(smp, name, None)
            if isinstance(g, np.random.Generator):
                return {name: g.bit_generator.state}
        return None

    def _load_sampler_state(self, st: Any) -> None:
        smp = self.sampler
        if st is None or smp is None:
            return
        if "state_dict" in st:
            smp.load_state_dict(st["state_dict"])
            return
        for name, state in st.items():
            g = getattr(smp, name, None)
            if not isinstance(g, np.random.Generator):
                raise PygradValueError(f"DataLoader.load_state_dict: the saved sampler state is for a sampler "
                                       f"with a numpy Generator `{name}`; this loader's sampler has none")
            g.bit_generator.state = state

    def state_dict(self) -> dict[str, Any]:
        """Where the loader is: the generator's state at the current epoch's start and the
        batches of that epoch already yielded (or the next epoch's start between epochs), and
        with a ``sampler`` that draws at random, its state at that start too (``sampler_state``:
        its own ``state_dict()``, or its numpy Generator's state), so a resume is exact in any
        epoch."""
        if self._epoch_state is not None and self._done < len(self):
            out = {"rng_state": self._epoch_state, "batches_done": self._done}
            sampler = self._epoch_sampler
        else:  # between epochs; after load_state_dict and before iterating, the position that was loaded
            out = {"rng_state": self._rng.bit_generator.state, "batches_done": self._resume or 0}
            sampler = self._sampler_state()
        if sampler is not None:
            out["sampler_state"] = sampler
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the next iteration yields the batches the saved
        loader would have yielded next."""
        try:
            rng_state, done = state["rng_state"], int(state["batches_done"])
        except (KeyError, TypeError, ValueError):
            raise PygradValueError("DataLoader.load_state_dict: expected the dict state_dict() returns") from None
        if not 0 <= done <= len(self):
            raise PygradValueError(f"DataLoader.load_state_dict: batches_done {done} is outside 0..{len(self)}")
        self._rng.bit_generator.state = rng_state
        self._load_sampler_state(state.get("sampler_state"))
        self._resume = done
        self._epoch_state = None

    def __len__(self) -> int:
        """The number of batches per epoch."""
        n = len(self.X) if self.sampler is None else len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _convert(self, a: np.ndarray, labels: bool) -> Any:
        if not self.tensors or (labels and a.dtype.kind in "iub"):
            return a
        return resolve(self._engine).tensor(a, dtype=self.dtype)

    def _collate(self, idx: np.ndarray) -> Any:
        """The dataset's items at idx stacked field by field (the first field as X, integer
        fields kept as numpy arrays like labels)."""
        items = [self.dataset[int(i)] for i in idx]  # type: ignore[index]
        if self.collate_fn is not None:
            return self.collate_fn(items)
        if isinstance(items[0], tuple):
            fields = [np.stack([np.asarray(it[k]) for it in items]) for k in range(len(items[0]))]
            return tuple(self._convert(f, labels=k > 0) for k, f in enumerate(fields))
        if isinstance(items[0], dict):  # PyTorch's default collation of dict items: a dict of batches
            if any(not isinstance(it, dict) or it.keys() != items[0].keys() for it in items):
                raise PygradValueError(f"DataLoader: the dataset's dict items must all have the keys "
                                       f"{list(items[0])}")
            return {k: self._convert(np.stack([np.asarray(it[k]) for it in items]), labels=j > 0)
                    for j, k in enumerate(items[0])}
        return self._convert(np.stack([np.asarray(it) for it in items]), labels=False)

    def __iter__(self) -> Iterator[Any]:
        n = len(self.X)
        skip, self._resume = (self._resume or 0), None
        self._epoch_state = self._rng.bit_generator.state
        self._epoch_sampler = self._sampler_state()
        self._done = skip
        if self.sampler is not None:
            order = np.fromiter(iter(self.sampler), dtype=np.int64)
            if order.size and (order.min() < -n or order.max() >= n):
                raise PygradValueError(f"DataLoader: the sampler gave an index outside the {n} samples "
                                       f"(range {order.min()}..{order.max()})")
        else:
            order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(skip, len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            self._done = b + 1
            if self.dataset is not None:
                yield self._collate(idx)
                continue
            xb = self._convert(self.X[idx], labels=False)
            if self.y is None:
                yield xb
            else:
                yield xb, self._convert(self.y[idx], labels=True)


class DistributedSampler:
    """The indices of this rank's shard of a data set, PyTorch's ``DistributedSampler`` semantics.

    ``dataset``: a sized object (or the number of samples N). Each epoch the
    indices 0..N-1 are shuffled (with ``shuffle``) by a generator seeded with
    ``seed + epoch`` (:meth:`set_epoch`; every rank draws the same order), then
    made a multiple of the world size R: without ``drop_last`` padded by
    repeating the order from its start (each rank gets ⌈N/R⌉ indices), with
    ``drop_last`` cut to ⌊N/R⌋·R. Rank r takes every R-th index starting at r.
    ``num_replicas`` / ``rank`` default to ``pygrad.distributed``'s world size and
    rank (the process group must be initialized).
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        n = dataset if isinstance(dataset, (int, np.integer)) and not isinstance(dataset, bool) else None
        if n is None:
            if not hasattr(dataset, "__len__"):
                raise PygradTypeError(f"DistributedSampler: dataset must have a length (or be the number of "
                                      f"samples), got {type(dataset).__name__}")
            n = len(dataset)
        if n < 0:
            raise PygradValueError(f"DistributedSampler: the number of samples must be >= 0, got {n}")
        if num_replicas is None or rank is None:
            import pygrad.distributed as dist  # needs the "distributed" extra only here

            if not dist.is_initialized():
                raise PygradValueError("DistributedSampler: pass num_replicas and rank, or call "
                                       "pygrad.distributed.init_process_group() first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        self.num_replicas = _positive_int("DistributedSampler", "num_replicas", num_replicas)
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < self.num_replicas:
            raise PygradValueError(f"DistributedSampler: rank must be in [0, {self.num_replicas}), got {rank!r}")
        self.rank = int(rank)
        self.n = int(n)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        if self.drop_last and self.n % self.num_replicas:
            self.num_samples = self.n // self.num_replicas
        else:
            self.num_samples = math.ceil(self.n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle the next iteration uses (call it before each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(self.n)
        else:
            order = np.arange(self.n)
        if self.total_size > self.n:  # pad by repeating from the start (more than once if N < R)
            order = np.resize(order, self.total_size)
        else:
            order = order[:self.total_size]
        return iter(order[self.rank:self.total_size:self.num_replicas].tolist())


def spiral(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, seed: int | None = 0
           ) -> tuple[np.ndarray, np.ndarray]:
    """CS231n's spiral: ``n_classes`` arms of ``n_per_class`` points in the plane.

    Arm j has radii r = linspace(0, 1) and angles t = linspace(4j, 4(j+1)) plus
    N(0, noise²) noise; its points are (r sin t, r cos t) with label j. Returns
    X (n_per_class·n_classes, 2) float64 and y int64. A linear classifier cannot
    separate the arms; a small ReLU network can.
    """
    n = _positive_int("spiral", "n_per_class", n_per_class)
    k = _positive_int("spiral", "n_classes", n_classes)
    rng = np.random.default_rng(seed)
    X = np.zeros((n * k, 2))
    y = np.zeros(n * k, dtype=np.int64)
    for j in range(k):
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(4.0 * j, 4.0 * (j + 1), n) + rng.standard_normal(n) * noise
        X[j * n:(j + 1) * n] = np.column_stack([r * np.sin(t), r * np.cos(t)])
        y[j * n:(j + 1) * n] = j
    return X, y


def moons(n_samples: int = 100, noise: float = 0.1, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (the micrograd demo's data), shuffled.

    Class 0: (cos θ, sin θ); class 1: (1 - cos θ, 1/2 - sin θ); θ evenly spaced in
    [0, π], each point moved by N(0, noise²) noise. Returns X (n_samples, 2) float64
    and y int64 in {0, 1}.
    """
    n = _positive_int("moons", "n_samples", n_samples)
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    a, b = np.linspace(0, math.pi, n_out), np.linspace(0, math.pi, n_in)
    X = np.concatenate([np.column_stack([np.cos(a), np.sin(a)]), np.column_stack([1 - np.cos(b), 0.5 - np.sin(b)])])
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    X = X + rng.standard_normal(X.shape) * noise
    order = rng.permutation(n)
    return X[order], y[order]


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8×8 handwritten digits (1797 images) from scikit-learn: X (1797, 64) float64 in
    [0, 1] (pixel / 16) and y int64 in 0..9. Needs scikit-learn (``pip install "pygrad[digits]"``)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(
            "pygrad.data.digits needs scikit-learn, which is not installed; install the optional extra with "
            "`pip install \"pygrad[digits]\"` (or `pip install scikit-learn`)") from exc
    d = load_digits()
    return d.data.astype(np.float64) / 16.0, d.target.astype(np.int64)


def train_test_split(X: Any, y: Any, test_fraction: float = 0.25, seed: int | None = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into ``(X_train, X_test, y_train, y_test)``, the test part being
    round(test_fraction · N) samples (at least one of each part)."""
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise ShapeError(f"train_test_split: X of shape {X.shape} and y of shape {y.shape} differ in length")
    if not 0 < test_fraction < 1:
        raise PygradValueError(f"train_test_split: test_fraction must be in (0, 1), got {test_fraction}")
    n = len(X)
    if n < 2:
        raise PygradValueError(f"train_test_split: need at least 2 samples, got {n}")
    n_test = min(max(1, round(test_fraction * n)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


__all__ = ["DataLoader", "Dataset", "TensorDataset", "DistributedSampler", "spiral", "moons", "digits",
           "train_test_split"]
