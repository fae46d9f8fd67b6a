"""x[key] = value on both engines: every kind of key, broadcasting, repeated positions,
gradients to value and to the untouched part of x (against hand values and PyTorch),
the version counter, leaves, integer tensors and bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference

ENGINES = {"c": pygrad, "reference": pygrad.reference}


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


KEYS = [
    (1, 2), (slice(None), 1), (Ellipsis, slice(0, 2)), (np.array([2, 0]),), (np.array([True, False, True]),),
    (slice(None, None, -1), np.array([1, 1])), (None, 0), ([0, 2], [1, 3]),
]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_values_match_numpy(m: Any, key: Any) -> None:
    a = np.arange(12.0).reshape(3, 4)
    want = a.copy()
    val = -np.arange(want[key].size, dtype=float).reshape(want[key].shape) - 1
    want[key] = val
    x = m.tensor(a)
    x[key] = m.tensor(val)
    np.testing.assert_array_equal(x.numpy(), want)
    x = m.tensor(a)
    x[key] = 5.0  # a scalar broadcasts
    want2 = a.copy()
    want2[key] = 5.0
    np.testing.assert_array_equal(x.numpy(), want2)


def test_gradients(m: Any) -> None:
    w = m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    v = m.tensor([10.0, 20.0], requires_grad=True)
    x = w * 1.0
    x[:, 1] = v
    (x * m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    assert w.grad.tolist() == [[1.0, 0.0, 3.0], [4.0, 0.0, 6.0]]  # the overwritten column gets nothing
    assert v.grad.tolist() == [2.0, 5.0]
    b = m.tensor(3.0, requires_grad=True)
    y = m.zeros(2, 2)
    y[0] = b  # broadcast: b reaches two places
    (y * m.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    assert b.grad.item() == 3.0


def test_repeated_positions_keep_the_last_write(m: Any) -> None:
    v = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x = m.zeros(3) * 1.0
    x[[0, 0, 2]] = v
    assert x.tolist() == [2.0, 0.0, 3.0]
    x.sum().backward()
    assert v.grad.tolist() == [0.0, 1.0, 1.0]


def test_version_counter_and_leaves(m: Any) -> None:
    w = m.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w[0] = 3.0
    with m.no_grad():
        w[0] = 3.0
    assert w.tolist() == [3.0, 2.0]
    x = w * 1.0
    y = x * x  # saves x
    x[1] = 0.0
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_integer_tensors_and_errors(m: Any) -> None:
    i = m.tensor([1, 2, 3])
    i[1] = 9
    i[i > 5] = -1
    assert i.tolist() == [1, -1, 3] and i.dtype == m.int64
    b = m.zeros(3, dtype=m.bool_)
    b[[0, 2]] = True
    assert b.tolist() == [True, False, True]
    x = m.zeros(2, 3)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        x[0] = m.ones(2)
    with pytest.raises(IndexError):
        x[5] = 1.0


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a, v, g = rng.standard_normal((4, 5)), rng.standard_normal(3), rng.standard_normal((4, 5))
    key = (slice(1, None), np.array([4, 0, 2]))  # no repeats: PyTorch gives a value overwritten by a later
    # write a gradient too; pygrad gives it the true derivative, 0 (test_repeated_positions_keep_the_last_write)
    tw, tv = torch.tensor(a, requires_grad=True), torch.tensor(v, requires_grad=True)
    tx = tw * 2.0
    tx[1:, torch.tensor([4, 0, 2])] = tv
    (tx * torch.tensor(g)).sum().backward()
    for mod in ENGINES.values():
        w, vv = mod.tensor(a, requires_grad=True), mod.tensor(v, requires_grad=True)
        x = w * 2.0
        x[key] = vv
        (x * mod.tensor(g)).sum().backward()
        np.testing.assert_allclose(x.detach().numpy(), tx.detach().numpy())
        np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy())
        np.testing.assert_allclose(vv.grad.numpy(), tv.grad.numpy())
