"""pygrad.data: the minibatch loader and the built-in datasets."""

from __future__ import annotations

import builtins
import math

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref
from pygrad import PygradError, data


def _xy(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(2 * n, dtype=np.float64).reshape(n, 2), np.arange(n)


def test_loader_batches_in_order() -> None:
    X, y = _xy(10)
    loader = data.DataLoader(X, y, batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert isinstance(batches[0][0], pg.Tensor) and batches[0][0].dtype == pg.float64
    assert isinstance(batches[0][1], np.ndarray) and batches[0][1].dtype == np.int64  # labels stay ints
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), X)


def test_loader_drop_last_dtype_engine_and_arrays() -> None:
    X, y = _xy(10)
    loader = data.DataLoader(X, y.astype(float), batch_size=4, drop_last=True, dtype="float32", engine="reference")
    batches = list(loader)
    assert len(loader) == len(batches) == 2
    xb, yb = batches[0]
    assert isinstance(xb, ref.Tensor) and xb.dtype == np.float32
    assert isinstance(yb, ref.Tensor)  # float targets become tensors
    plain = list(data.DataLoader(X, batch_size=3, tensors=False))
    assert len(plain) == 4 and all(isinstance(b, np.ndarray) for b in plain)


def test_shuffle_is_seeded_covers_everything_and_changes_per_epoch() -> None:
    X, y = _xy(20)
    a = data.DataLoader(X, y, batch_size=6, shuffle=True, seed=3)
    b = data.DataLoader(X, y, batch_size=6, shuffle=True, seed=3)
    ea1 = np.concatenate([yb for _, yb in a])
    ea2 = np.concatenate([yb for _, yb in a])
    eb1 = np.concatenate([yb for _, yb in b])
    np.testing.assert_array_equal(ea1, eb1)  # same seed, same first epoch
    assert not np.array_equal(ea1, ea2)  # a new order each epoch
    assert sorted(ea1) == list(range(20)) and sorted(ea2) == list(range(20))
    for xb, yb in a:  # rows stay with their labels
        np.testing.assert_array_equal(xb.numpy(), X[yb])


@pytest.mark.parametrize(("call", "exc", "pattern"), [
    (lambda: data.DataLoader(np.ones((3, 2)), np.ones(4)), ValueError, r"DataLoader: X has 3 samples .* \(4,\)"),
    (lambda: data.DataLoader(np.ones((0, 2))), ValueError, r"DataLoader: the dataset is empty"),
    (lambda: data.DataLoader(np.ones((3, 2)), batch_size=0), ValueError, r"DataLoader: batch_size must be"),
    (lambda: data.DataLoader(3.0), ValueError, r"DataLoader: X must have a first"),
    (lambda: data.DataLoader(np.array(["a", "b"])), TypeError, r"DataLoader: X must be numeric"),
    (lambda: data.spiral(0), ValueError, r"spiral: n_per_class"),
    (lambda: data.moons(-1), ValueError, r"moons: n_samples"),
    (lambda: data.train_test_split(np.ones(3), np.ones(2)), ValueError, r"train_test_split"),
    (lambda: data.train_test_split(np.ones(3), np.ones(3), test_fraction=1.0), ValueError, r"test_fraction"),
])
def test_bad_input(call, exc, pattern: str) -> None:
    with pytest.raises(exc, match=pattern) as info:
        call()
    assert isinstance(info.value, PygradError)


def test_spiral_construction() -> None:
    X, y = data.spiral(50, 4, noise=0.0, seed=0)
    assert X.shape == (200, 2) and y.shape == (200,) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [50] * 4)
    r = np.hypot(X[:, 0], X[:, 1])
    for j in range(4):  # radii linspace(0, 1); without noise the angle is linspace(4j, 4j + 4)
        arm = X[y == j]
        np.testing.assert_allclose(r[y == j], np.linspace(0, 1, 50), atol=1e-15)
        t = np.linspace(4 * j, 4 * j + 4, 50)
        np.testing.assert_allclose(arm, np.column_stack([np.linspace(0, 1, 50) * np.sin(t),
                                                         np.linspace(0, 1, 50) * np.cos(t)]), atol=1e-15)
    a, b = data.spiral(seed=1), data.spiral(seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], data.spiral(seed=2)[0])


def test_moons_construction() -> None:
    X, y = data.moons(101, noise=0.0, seed=0)
    assert X.shape == (101, 2) and np.bincount(y).tolist() == [50, 51]
    outer, inner = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0, atol=1e-15)  # the unit half circle
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1, inner[:, 1] - 0.5), 1.0, atol=1e-15)
    assert np.all(outer[:, 1] >= -1e-15) and np.all(inner[:, 1] <= 0.5 + 1e-15)
    noisy = data.moons(200, noise=0.1, seed=1)[0]
    assert noisy.std() > 0 and not np.array_equal(noisy, data.moons(200, noise=0.1, seed=2)[0])


def test_train_test_split() -> None:
    X, y = _xy(10)
    Xtr, Xte, ytr, yte = data.train_test_split(X, y, test_fraction=0.3, seed=0)
    assert len(Xte) == 3 and len(Xtr) == 7
    assert sorted(np.concatenate([ytr, yte])) == list(range(10))
    np.testing.assert_array_equal(Xtr, X[ytr])


def test_digits_needs_scikit_learn(monkeypatch) -> None:
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r"scikit-learn.*pygrad\[digits\]"):
        data.digits()


def test_digits_when_installed() -> None:
    pytest.importorskip("sklearn")
    X, y = data.digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0 and set(np.unique(y)) == set(range(10))
    assert math.isclose(X.mean(), 4.8842 / 16, rel_tol=1e-3)
