"""The fast paths of topk, whole-slice indexing, cumsum and the permuted copy, checked
against numpy and the reference engine.

topk selects (a sorted buffer of the best k for small k, a selection then a sort of k
pairs for large k) and must give argsort's first k exactly: ties in index order, NaN the
largest value, -0 equal to +0. ``x[idx]`` with a 1-d integer index records index_map
(rows copied whole, the backward adding rows; repeated indices add). cumsum along a
contiguous dim runs a row per loop. A permute whose last dim is not the source's last
copies in tiles. Shapes here are large enough to take those paths, with odd sizes for the
edges of the tiles and blocks, and every result is compared bit for bit where the
operation is a copy or a selection, and on 1 and 2 threads.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref

FLOATS = ["float32", "float64"]
ALL = ["float32", "float64", "int64", "int32", "bool"]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def nthreads(request):
    before = pygrad.get_num_threads()
    pygrad.set_num_threads(request.param)
    yield request.param
    pygrad.set_num_threads(before)


def _data(shape, dtype, seed=0, special=True):
    """Random values with many ties; for floats also NaN, ±inf and ±0."""
    rng = np.random.default_rng(seed)
    a = np.round(rng.standard_normal(shape) * 4)
    if dtype == "bool":
        return a > 0
    if dtype in ("int64", "int32"):
        return a.astype(dtype)
    a = (a + rng.integers(0, 2, shape) * rng.standard_normal(shape)).astype(dtype)
    if special and a.size:
        f = a.reshape(-1)
        for v, frac in ((np.nan, 20), (np.inf, 40), (-np.inf, 40), (0.0, 20), (-0.0, 20)):
            f[rng.integers(0, f.size, f.size // frac + 1)] = v
    return a


# ---- topk ----


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape,dim", [((300, 1000), 1), ((300, 1000), -1), ((1000, 70), 0), ((7, 333, 5), 1),
                                       ((3, 5, 257), 2)])
@pytest.mark.parametrize("k", [1, 3, 8, 31, 64, 65, "half", "all"])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_matches_argsort(dtype, shape, dim, k, largest, nthreads):
    a = _data(shape, dtype, seed=len(shape) + (k if isinstance(k, int) else 0))
    n = shape[dim]
    k = n // 2 if k == "half" else n if k == "all" else min(k, n)
    got = pygrad.tensor(a).topk(k, dim, largest=largest)
    want = ref.tensor(a).topk(k, dim, largest=largest)
    assert got.indices.dtype == want.indices.dtype == pygrad.int64
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    assert got.values.numpy().tobytes() == want.values.numpy().tobytes()
    # the stable sort's prefix, from numpy: ties by index, NaN largest
    # numpy's stable order: NaN above every number (after +inf ascending, before it descending), ties by index
    nan = np.isnan(a) if dtype in FLOATS else np.zeros(a.shape, bool)
    val = np.where(nan, 0, a.astype(np.float64))
    srt = np.lexsort((-val, -nan.astype(int)) if largest else (val, nan), axis=dim)
    np.testing.assert_array_equal(got.indices.numpy(), np.take(srt, range(k), axis=dim))


@pytest.mark.parametrize("rows", [
    np.arange(3000, dtype=np.float32),                       # ascending: every element enters the best k
    np.arange(3000, dtype=np.float64)[::-1].copy(),
    np.zeros(3000, dtype=np.float32),                        # one tie throughout
    np.tile(np.array([0.0, -0.0], dtype=np.float32), 1500),  # -0 ties +0
    np.full(3000, np.nan, dtype=np.float64),
    np.tile(np.arange(7, dtype=np.int64), 429)[:3000],
])
@pytest.mark.parametrize("k", [1, 8, 40, 100, 1500, 3000])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_adversarial_rows(rows, k, largest):
    a = np.stack([rows, rows[::-1]])
    got = pygrad.tensor(a).topk(k, 1, largest=largest).indices.numpy()
    want = ref.tensor(a).topk(k, 1, largest=largest).indices.numpy()
    np.testing.assert_array_equal(got, want)


def test_topk_gradient_and_threads():
    a = _data((64, 500), "float64", seed=9, special=False)
    g = np.random.default_rng(1).standard_normal((64, 12))
    outs = []
    for nt in (1, 2):
        pygrad.set_num_threads(nt)
        x = pygrad.tensor(a, requires_grad=True)
        t = x.topk(12, 1)
        t.values.backward(pygrad.tensor(g))
        outs.append((t.indices.numpy(), x.grad.numpy()))
    pygrad.set_num_threads(1)
    r = ref.tensor(a, requires_grad=True)
    rt = r.topk(12, 1)
    rt.values.backward(ref.tensor(g))
    for idx, grad in outs:
        np.testing.assert_array_equal(idx, rt.indices.numpy())
        np.testing.assert_array_equal(grad, r.grad.numpy())


def test_topk_errors_unchanged():
    x = pygrad.tensor(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"topk: k = 5 is out of range for dim 1 of size 4 \(tensor of shape"):
        x.topk(5)
    with pytest.raises(TypeError, match="topk: k must be an int"):
        x.topk(1.5)


# ---- x[idx]: whole slices along one dim ----


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape,dim", [((500, 67), 0), ((37, 500), 1), ((5, 300, 13), 1), ((9, 4, 300), 2)])
def test_index_rows_forward(dtype, shape, dim, nthreads):
    a = _data(shape, dtype, seed=3)
    idx = np.random.default_rng(4).integers(-shape[dim], shape[dim], 2 * shape[dim] + 1)
    key = (slice(None),) * dim + (pygrad.tensor(idx),)
    got = pygrad.tensor(a)[key].numpy()
    want = a[(slice(None),) * dim + (idx,)]
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    got2 = pygrad.tensor(a).index_select(dim, pygrad.tensor(idx)).numpy()
    assert got2.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,dim", [((500, 67), 0), ((37, 500), 1), ((5, 300, 13), 1)])
def test_index_rows_backward_repeated(dtype, shape, dim, nthreads):
    a = _data(shape, dtype, seed=5, special=False)
    rng = np.random.default_rng(6)
    idx = np.concatenate([rng.integers(0, shape[dim], 3 * shape[dim]), [0, 0, 0, shape[dim] - 1] * 5])
    x, r = pygrad.tensor(a, requires_grad=True), ref.tensor(a, requires_grad=True)
    y = x[(slice(None),) * dim + (pygrad.tensor(idx),)]
    ry = r[(slice(None),) * dim + (ref.tensor(idx),)]
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(pygrad.tensor(g))
    ry.backward(ref.tensor(g))
    np.testing.assert_array_equal(y.numpy(), ry.numpy())
    # repeats add in index order, as the reference's accumulation
    np.testing.assert_allclose(x.grad.numpy(), r.grad.numpy(), rtol=1e-6 if dtype == "float32" else 1e-12)


def test_index_rows_bit_identical_across_threads():
    a = _data((700, 300), "float32", seed=7, special=False)
    idx = np.random.default_rng(8).integers(0, 700, 2000)
    g = np.random.default_rng(9).standard_normal((2000, 300)).astype(np.float32)
    grads = []
    for nt in (1, 2):
        pygrad.set_num_threads(nt)
        x = pygrad.tensor(a, requires_grad=True)
        x[pygrad.tensor(idx)].backward(pygrad.tensor(g))
        grads.append(x.grad.numpy().tobytes())
    pygrad.set_num_threads(1)
    assert grads[0] == grads[1]


def test_index_rows_errors_unchanged():
    x = pygrad.tensor(np.zeros((100, 50), dtype=np.float32))
    with pytest.raises(IndexError, match="getitem: .*out of bounds"):
        x[pygrad.tensor(np.array([0, 100]))]
    with pytest.raises(IndexError, match="index_select: index 100 is out of range"):
        x.index_select(0, pygrad.tensor(np.array([0, 100])))


def test_index_rows_compile():
    a = _data((200, 64), "float32", seed=10, special=False)
    idx = np.array([5, 5, 0, 199, 17] * 20)  # a numpy index is recorded (a tensor's values read into Python are not)
    w = pygrad.tensor(a, requires_grad=True)

    def step(x):
        loss = (w[idx] * x).sum()
        loss.backward()
        return loss

    f = pygrad.compile(step)
    x = pygrad.tensor(np.ones((100, 64), dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # replayed, never eager
        for _ in range(3):
            w.grad = None
            f(x)
    w2 = pygrad.tensor(a, requires_grad=True)
    (w2[idx] * x).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), w2.grad.numpy())


# ---- flip's and roll's backward (index_map's permutation maps) ----


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(300, 67), (5, 40, 129)])
def test_flip_roll_backward(dtype, shape, nthreads):
    a = _data(shape, dtype, seed=11, special=False)
    g = np.random.default_rng(12).standard_normal(shape).astype(dtype)
    for d in range(len(shape)):
        x = pygrad.tensor(a, requires_grad=True)
        y = x.flip(d)
        assert y.numpy().tobytes() == np.ascontiguousarray(np.flip(a, d)).tobytes()
        y.backward(pygrad.tensor(g))
        assert x.grad.numpy().tobytes() == np.ascontiguousarray(np.flip(g, d)).tobytes()
        x.grad = None
        x.roll(5, d).backward(pygrad.tensor(g))
        assert x.grad.numpy().tobytes() == np.roll(g, -5, d).tobytes()


# ---- cumsum along rows ----


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,dim", [((513, 1001), 1), ((3, 7, 600), 2), ((700, 129), 0), ((1, 5), 1)])
def test_cumsum_rows(dtype, shape, dim, nthreads):
    a = _data(shape, dtype, seed=13, special=False)
    g = np.random.default_rng(14).standard_normal(shape).astype(dtype)
    x, r = pygrad.tensor(a, requires_grad=True), ref.tensor(a, requires_grad=True)
    y, ry = x.cumsum(dim), r.cumsum(dim)
    y.backward(pygrad.tensor(g))
    ry.backward(ref.tensor(g))
    # one add per element in order along dim: numpy's cumsum adds in the same order
    assert y.numpy().tobytes() == np.cumsum(a, dim, dtype=dtype).tobytes()
    want_g = np.flip(np.cumsum(np.flip(g, dim), dim, dtype=dtype), dim)
    assert x.grad.numpy().tobytes() == np.ascontiguousarray(want_g).tobytes()
    np.testing.assert_allclose(y.numpy(), ry.numpy(), rtol=1e-5, atol=1e-4)


def test_cumsum_bit_identical_across_threads():
    a = _data((300, 2000), "float32", seed=15, special=False)
    outs = []
    for nt in (1, 2):
        pygrad.set_num_threads(nt)
        outs.append((pygrad.tensor(a).cumsum(1).numpy().tobytes(), pygrad.tensor(a).cumsum(0).numpy().tobytes()))
    pygrad.set_num_threads(1)
    assert outs[0] == outs[1]


# ---- permuted copies ----


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape", [(1000, 67), (65, 129), (3, 70, 41), (4, 9, 33, 17), (8, 1, 40, 9)])
def test_permute_tiles(dtype, shape, nthreads):
    a = _data(shape, dtype, seed=16, special=False)
    for perm in itertools.permutations(range(len(shape))):
        y = pygrad.tensor(a).permute(*perm).numpy()
        assert y.dtype == a.dtype and y.tobytes() == np.ascontiguousarray(a.transpose(perm)).tobytes()


@pytest.mark.parametrize("dtype", FLOATS)
def test_transpose_backward(dtype, nthreads):
    a = _data((333, 517), dtype, seed=17, special=False)
    g = np.random.default_rng(18).standard_normal((517, 333)).astype(dtype)
    x = pygrad.tensor(a, requires_grad=True)
    y = x.t().contiguous()
    assert y.numpy().tobytes() == np.ascontiguousarray(a.T).tobytes()
    y.backward(pygrad.tensor(g))
    assert x.grad.numpy().tobytes() == np.ascontiguousarray(g.T).tobytes()
