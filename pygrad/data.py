"""Data for training: a minibatch loader over numpy arrays and small built-in datasets.

    >>> X, y = pygrad.data.spiral(100, 3, seed=0)          # (300, 2) points, 300 labels
    >>> loader = pygrad.data.DataLoader(X, y, batch_size=32, shuffle=True, seed=0)
    >>> for xb, yb in loader:                              # xb: Tensor (≤32, 2), yb: int64 array
    ...     ...

Datasets that need no download: :func:`spiral` (CS231n's spiral classes) and
:func:`moons` (two interleaving half circles); :func:`digits` (the 8×8
handwritten digits) comes from scikit-learn when it is installed
(``pip install "pygrad[digits]"``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np

from pygrad.errors import PygradTypeError, PygradValueError, ShapeError
from pygrad.nn._backend import resolve


def _positive_int(op: str, what: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise PygradValueError(f"{op}: {what} must be a positive int, got {n!r}")
    return int(n)


class DataLoader:
    """Iterate over (X, y) in minibatches of ``batch_size`` rows.

    ``X``: an array of N rows (any trailing shape); ``y``: N labels or targets, or
    None (the loader then yields X batches alone). ``shuffle`` draws a new order
    every epoch from a generator seeded once with ``seed`` (the same seed gives
    the same sequence of epochs); ``drop_last`` drops a final batch smaller than
    ``batch_size``. With ``tensors=True`` (the default) X batches are Tensors of
    ``engine`` (by default the engine ``import pygrad`` serves) with ``dtype`` (None: the engine's rule,
    numpy float64 stays float64), as are float targets; integer labels stay
    int64 numpy arrays, which is what the losses take (tensors have no integer
    dtype). With ``tensors=False`` every batch is a numpy array.
    """

    def __init__(self, X: Any, y: Any = None, batch_size: int = 32, shuffle: bool = False,
                 seed: int | None = None, drop_last: bool = False, tensors: bool = True, dtype: Any = None,
                 engine: ModuleType | str | None = None) -> None:
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
        self.drop_last = bool(drop_last)
        self.tensors = bool(tensors)
        self.dtype = dtype
        self._engine = engine
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        """The number of batches per epoch."""
        n = len(self.X)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _convert(self, a: np.ndarray, labels: bool) -> Any:
        if not self.tensors or (labels and a.dtype.kind in "iub"):
            return a
        return resolve(self._engine).tensor(a, dtype=self.dtype)

    def __iter__(self) -> Iterator[Any]:
        n = len(self.X)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            xb = self._convert(self.X[idx], labels=False)
            if self.y is None:
                yield xb
            else:
                yield xb, self._convert(self.y[idx], labels=True)


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


__all__ = ["DataLoader", "spiral", "moons", "digits", "train_test_split"]
