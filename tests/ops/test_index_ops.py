"""The index ops along a dim (pygrad._indexing and the C kernels of ops_index.c):
argmax/argmin, max/min over a dim with indices, sort/argsort/topk,
cummax/cummin, any/all/count_nonzero, nonzero/where(cond), gather, scatter,
scatter_add, index_select, take_along_dim, masked_fill.

Values are checked against numpy computed here, both engines against each
other, gradients against finite differences (float64 gradcheck), and, where
PyTorch is installed, against PyTorch itself."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference
from pygrad.gradcheck import gradcheck

ENGINES = {"c": pygrad, "reference": pygrad.reference}


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


NAN = float("nan")
X = np.array([[3.0, 1.0, 2.0, NAN], [0.0, 5.0, 5.0, -1.0], [2.0, 2.0, -3.0, 4.0]])


def test_argmax_argmin(m: Any) -> None:
    x = m.tensor(X)
    assert x.argmax().item() == 3  # the first NaN of the flattened tensor
    assert x.argmax(dim=1).tolist() == [3, 1, 3]
    assert x.argmin(dim=1).tolist() == [3, 3, 2]
    assert x.argmax(0).tolist() == [0, 1, 1, 0]
    assert x.argmax(dim=1, keepdim=True).shape == (3, 1)
    assert x.argmax(keepdim=True).shape == (1, 1)
    assert m.argmax(m.tensor([1, 7, 7, 2])).item() == 1  # integers, ties: the first
    assert m.argmin(m.tensor([True, False, False])).item() == 1
    big = m.tensor([2**62 + 1, 2**62 + 2, 2**62])
    assert big.argmax().item() == 1 and big.argmin().item() == 2  # exact beyond 2^53
    with pytest.raises(ValueError, match="zero elements"):
        m.zeros(2, 0).argmax(dim=1)
    with pytest.raises(pygrad.ShapeError if m is pygrad else pygrad.reference.ShapeError, match="dim 2"):
        x.argmax(dim=2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,dim", [((7, 1000), 1), ((7, 1000), None), ((300, 150), 0), ((4, 50, 70), 1),
                                       ((3, 9, 2), 1)])
def test_argmax_argmin_of_large_float_tensors_against_numpy(dtype, shape, dim) -> None:
    """The float kernels (a vector extreme then the first element equal to it along rows; blocks of 64
    columns otherwise): the first index of the extreme, a NaN the extreme (its first), ties and signed
    zeros by position, infinities; against numpy's argmax/argmin, which have these rules."""
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-3, 4, shape).astype(dtype)  # many ties
    flat = x.reshape(-1)
    flat[rng.integers(0, flat.size, 3)] = -0.0
    flat[rng.integers(0, flat.size, 2)] = np.inf
    flat[rng.integers(0, flat.size, 2)] = -np.inf
    x2 = x.copy()
    x2.reshape(-1)[rng.integers(0, flat.size, 4)] = np.nan
    for a in (x, x2, np.zeros(shape, dtype), -np.zeros(shape, dtype)):
        t = pygrad.tensor(a)
        for name in ("argmax", "argmin"):
            got = getattr(t, name)() if dim is None else getattr(t, name)(dim=dim)
            want = getattr(np, name)(a) if dim is None else getattr(np, name)(a, axis=dim)
            np.testing.assert_array_equal(got.numpy(), want, err_msg=f"{name} {dim}")
        if dim is not None:
            r = t.max(dim)
            np.testing.assert_array_equal(r.indices.numpy(), np.argmax(a, axis=dim))
            np.testing.assert_array_equal(r.values.numpy(), np.max(a, axis=dim))


def test_max_and_min_over_a_dim_return_values_and_indices(m: Any) -> None:
    x = m.tensor(X[1:], requires_grad=True)  # [[0, 5, 5, -1], [2, 2, -3, 4]]
    r = x.max(1)
    assert r.values.tolist() == [5.0, 4.0] and r.indices.tolist() == [1, 3]
    v, i = m.max(x, dim=0, keepdim=True)
    assert v.shape == (1, 4) and v.tolist() == [[2.0, 5.0, 5.0, 4.0]] and i.tolist() == [[1, 0, 0, 1]]
    r.values.sum().backward()
    # the gradient goes to the first maximum only (PyTorch's max(dim)), unlike the reduction max()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    assert x.min(dim=1).indices.tolist() == [3, 2]
    assert x.max(axis=1).tolist() == [5.0, 4.0]  # numpy spelling: values only
    assert x.max(dim=(0, 1)).item() == 5.0  # several dims: values only
    assert m.tensor(X).max(1).values.numpy()[0] != m.tensor(X).max(1).values.numpy()[0]  # NaN propagates


def test_sort_argsort_topk(m: Any) -> None:
    x = m.tensor(X)
    s = x.sort(dim=1)
    np.testing.assert_array_equal(s.values.numpy(), [[1, 2, 3, NAN], [-1, 0, 5, 5], [-3, 2, 2, 4]])
    assert s.indices.tolist() == [[1, 2, 0, 3], [3, 0, 1, 2], [2, 0, 1, 3]]  # stable: ties keep their order
    d = x.sort(dim=1, descending=True)
    assert d.indices.tolist() == [[3, 0, 2, 1], [1, 2, 0, 3], [3, 0, 1, 2]]  # NaN first descending
    assert x.argsort(dim=0).tolist() == [[1, 0, 2, 1], [2, 2, 0, 2], [0, 1, 1, 0]]
    t = x.topk(2, dim=1)
    assert t.indices.tolist() == [[3, 0], [1, 2], [3, 0]]
    t2 = x.topk(1, dim=0, largest=False)
    assert t2.values.tolist() == [[0.0, 1.0, -3.0, -1.0]] and t2.indices.tolist() == [[1, 0, 2, 1]]
    assert m.sort(m.tensor([3, -1, 2])).values.tolist() == [-1, 2, 3]
    assert m.tensor([True, False, True]).argsort().tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match="k = 5"):
        x.topk(5)


def test_cummax_cummin(m: Any) -> None:
    x = m.tensor([[1.0, 3.0, 2.0, 3.0, NAN, 0.0]])
    c = x.cummax(1)
    np.testing.assert_array_equal(c.values.numpy(), [[1, 3, 3, 3, NAN, NAN]])
    assert c.indices.tolist() == [[0, 1, 1, 3, 4, 4]]  # the latest index on ties
    c = m.tensor([[4, 2, 2, 5]]).cummin(dim=1)
    assert c.values.tolist() == [[4, 2, 2, 2]] and c.indices.tolist() == [[0, 1, 2, 2]]


def test_any_all_count_nonzero_nonzero_where(m: Any) -> None:
    x = m.tensor([[0.0, 2.0, 0.0], [1.0, -1.0, 3.0]])
    assert x.any().item() is True and x.all().item() is False
    assert x.all(dim=1).tolist() == [False, True] and x.any(dim=0).tolist() == [True, True, True]
    assert x.count_nonzero().item() == 4 and x.count_nonzero(dim=0).tolist() == [1, 2, 1]
    assert m.all(m.zeros(0)).item() is True and m.any(m.zeros(0)).item() is False
    nz = m.nonzero(x)
    assert nz.dtype == m.int64 and nz.tolist() == [[0, 1], [1, 0], [1, 1], [1, 2]]
    rows, cols = m.where(x != 0)
    assert rows.tolist() == [0, 1, 1, 1] and cols.tolist() == [1, 0, 1, 2]
    np.testing.assert_array_equal(x[m.where(x > 0)].numpy(), [2.0, 1.0, 3.0])
    assert m.nonzero(m.zeros(2, 3)).shape == (0, 2)


def test_gather_scatter_scatter_add(m: Any) -> None:
    x = m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    idx = m.tensor([[2, 0], [1, 1]])
    g = x.gather(1, idx)
    assert g.tolist() == [[3.0, 1.0], [5.0, 5.0]]
    g.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 1.0], [0.0, 2.0, 0.0]]
    assert m.gather(x, 0, m.tensor([[1, 0, 1]])).tolist() == [[4.0, 2.0, 6.0]]
    base = m.zeros(2, 3)
    src = m.tensor([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])
    # scatter_add: repeats add; only src's leading block of index's shape is used
    assert base.scatter_add(1, idx, src).tolist() == [[20.0, 0.0, 10.0], [0.0, 90.0, 0.0]]
    assert m.scatter_add(base, 1, idx, src).tolist() == [[20.0, 0.0, 10.0], [0.0, 90.0, 0.0]]
    # scatter: writes; for a repeated position the last write wins
    assert base.scatter(1, idx, src).tolist() == [[20.0, 0.0, 10.0], [0.0, 50.0, 0.0]]
    assert base.scatter(0, m.tensor([[1, 0, 1]]), 7.0).tolist() == [[0.0, 7.0, 0.0], [7.0, 0.0, 7.0]]
    ints = m.zeros(4, dtype=m.int64)
    assert ints.scatter_add(0, m.tensor([1, 1, 3]), m.tensor([5, 6, 7])).tolist() == [0, 11, 0, 7]
    assert ints.scatter(0, m.tensor([2, 2]), m.tensor([5, 6])).tolist() == [0, 0, 6, 0]


def test_gather_scatter_errors(m: Any) -> None:
    x = m.zeros(2, 3)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dim 1 with size 3"):
        x.gather(1, m.tensor([[3]]))
    with pytest.raises(IndexError, match="out of bounds"):
        x.gather(1, m.tensor([[-1]]))
    with pytest.raises(TypeError, match="int64 or int32"):
        x.gather(1, m.tensor([[1.0]]))
    with pytest.raises(ValueError, match="as many dims"):
        x.gather(1, m.tensor([1]))
    with pytest.raises(ValueError, match="larger than"):
        x.gather(1, m.tensor([[0], [0], [0]]))
    with pytest.raises(ValueError, match="larger than src"):
        x.scatter_add(1, m.tensor([[0, 1]]), m.ones(1, 1))
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        x.scatter(2, m.tensor([[0]]), 1.0)


def test_index_select_take_along_dim_masked_fill(m: Any) -> None:
    x = m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    s = x.index_select(1, m.tensor([2, 0, 2]))
    assert s.tolist() == [[3.0, 1.0, 3.0], [6.0, 4.0, 6.0]]
    s.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0, 2.0], [1.0, 0.0, 2.0]]
    idx = m.tensor([[0], [2]])
    assert m.take_along_dim(x, idx, dim=1).tolist() == [[1.0], [6.0]]
    assert x.take_along_dim(m.tensor([[1], [0]]), 0).tolist() == [[4.0, 5.0, 6.0], [1.0, 2.0, 3.0]]
    assert x.take_along_dim(m.tensor([5, 0])).tolist() == [6.0, 1.0]
    am = x.argmax(dim=1, keepdim=True)
    assert x.take_along_dim(am, dim=1).tolist() == [[3.0], [6.0]]
    f = x.masked_fill(x > 2.5, -1.0)
    assert f.tolist() == [[1.0, 2.0, -1.0], [-1.0, -1.0, -1.0]]
    assert x.masked_fill(m.tensor([True, False, False]), 0.0).tolist() == [[0.0, 2.0, 3.0], [0.0, 5.0, 6.0]]
    with pytest.raises(TypeError, match="bool"):
        x.masked_fill(m.tensor([1, 0, 0]), 0.0)
    with pytest.raises(IndexError, match="index 3"):
        x.index_select(1, m.tensor([3]))


def test_engines_agree_on_random_inputs() -> None:
    rng = np.random.default_rng(0)
    for shape, dim in [((5, 7), 1), ((4, 3, 6), 0), ((4, 3, 6), 2), ((9,), 0)]:
        a = rng.integers(-3, 4, size=shape).astype(np.float64)  # many ties
        a[rng.random(shape) < 0.1] = np.nan
        for f in (lambda m, t, d: t.argmax(dim=d), lambda m, t, d: t.argmin(dim=d, keepdim=True),
                  lambda m, t, d: t.sort(dim=d).indices, lambda m, t, d: t.sort(dim=d, descending=True).indices,
                  lambda m, t, d: t.topk(2, dim=d).indices, lambda m, t, d: t.cummax(d).indices,
                  lambda m, t, d: t.cummin(d).indices, lambda m, t, d: m.nonzero(t > 0)):
            c, r = f(pygrad, pygrad.tensor(a), dim), f(pygrad.reference, pygrad.reference.tensor(a), dim)
            np.testing.assert_array_equal(c.numpy(), r.numpy())
        ai = rng.integers(-5, 5, size=shape)
        for f in (lambda m, t, d: t.argmax(dim=d), lambda m, t, d: t.sort(dim=d, descending=True).indices):
            np.testing.assert_array_equal(f(pygrad, pygrad.tensor(ai), dim).numpy(),
                                          f(pygrad.reference, pygrad.reference.tensor(ai), dim).numpy())


@pytest.mark.parametrize("name", ["max_dim", "sort", "topk", "cummax", "gather", "scatter", "scatter_add",
                                  "index_select", "masked_fill"])
def test_gradcheck_float64(m: Any, name: str) -> None:
    rng = np.random.default_rng(1)
    a = m.tensor(rng.permutation(12).reshape(3, 4).astype(np.float64) * 0.37, requires_grad=True)
    s = m.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    idx = m.tensor([[2, 0, 1, 2], [0, 0, 2, 1]])
    w = m.tensor(rng.standard_normal(4))
    fs = {
        "max_dim": lambda a, s: (a.max(0).values * w).sum(),
        "sort": lambda a, s: (a.sort(1).values * a).sum(),
        "topk": lambda a, s: (a.topk(2, dim=1).values ** 2).sum(),
        "cummax": lambda a, s: (a.cummax(1).values * a).sum(),
        "gather": lambda a, s: (a.gather(0, idx) * s).sum(),
        "scatter": lambda a, s: (a.scatter(0, idx, s) ** 2).sum(),
        "scatter_add": lambda a, s: (a.scatter_add(0, idx, s) ** 2).sum(),
        "index_select": lambda a, s: (a.index_select(1, m.tensor([3, 3, 0])) ** 2).sum(),
        "masked_fill": lambda a, s: (a.masked_fill(a > 1.5, 2.0) ** 2).sum(),
    }
    gradcheck(fs[name], (a, s))


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a = rng.integers(-3, 4, size=(6, 8)).astype(np.float32)
    a[rng.random(a.shape) < 0.1] = np.nan
    t, p = torch.tensor(a), pygrad.tensor(a)
    for dim in (0, 1):
        np.testing.assert_array_equal(p.argmax(dim=dim).numpy(), t.argmax(dim=dim).numpy())
        np.testing.assert_array_equal(p.argmin(dim=dim).numpy(), t.argmin(dim=dim).numpy())
        np.testing.assert_array_equal(p.max(dim).indices.numpy(), t.max(dim).indices.numpy())
        np.testing.assert_array_equal(p.sort(dim, stable=True).indices.numpy(),
                                      t.sort(dim=dim, stable=True).indices.numpy())
        np.testing.assert_array_equal(p.sort(dim, descending=True, stable=True).indices.numpy(),
                                      t.sort(dim=dim, descending=True, stable=True).indices.numpy())
        np.testing.assert_array_equal(p.cummax(dim).indices.numpy(), t.cummax(dim).indices.numpy())
        np.testing.assert_array_equal(p.cummin(dim).indices.numpy(), t.cummin(dim).indices.numpy())
    idx = rng.integers(0, 6, size=(4, 8))
    src = rng.standard_normal((4, 8)).astype(np.float32)
    z = np.zeros((6, 8), np.float32)
    np.testing.assert_allclose(pygrad.tensor(z).scatter_add(0, pygrad.tensor(idx), pygrad.tensor(src)).numpy(),
                               torch.tensor(z).scatter_add(0, torch.tensor(idx), torch.tensor(src)).numpy(),
                               rtol=1e-6)
    np.testing.assert_array_equal(pygrad.tensor(a).gather(0, pygrad.tensor(idx)).numpy(),
                                  torch.tensor(a).gather(0, torch.tensor(idx)).numpy())
    np.testing.assert_array_equal(pygrad.nonzero(pygrad.tensor(a > 0)).numpy(),
                                  torch.nonzero(torch.tensor(a > 0)).numpy())
