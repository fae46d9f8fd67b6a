"""dropout and embedding on both engines: the dropout mask against an independent integer
implementation of the documented hash, the same mask on both engines for one seed, train/eval/p edge
cases, in-place, generators and nn.Dropout; embedding against numpy gathers and np.add.at, padding_idx,
index kinds, PyTorch (when installed), gradcheck and gradgradcheck; bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradIndexError, PygradTypeError, PygradValueError, ShapeError
from pygrad.gradcheck import gradcheck, gradgradcheck

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]
M32 = 0xFFFFFFFF


def _mix(x: int) -> int:
    x ^= x >> 16
    x = (x * 0x21F0AAAD) & M32
    x ^= x >> 15
    x = (x * 0x735A2D97) & M32
    return x ^ (x >> 15)


def hash_keep(seed: int, i: int, p: float) -> bool:
    """The documented mask, with Python ints: keep iff mix(mix(lo ^ k0) ^ (k1 + hi·0x9e3779b9)) >= ⌊p·2³²⌋."""
    lo, hi = i & M32, i >> 32
    h = _mix(_mix(lo ^ (seed & M32)) ^ (((seed >> 32) + hi * 0x9E3779B9) & M32))
    return h >= int(p * 2.0**32)


# ------------------------------------------------------------------ dropout ---


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_mask_is_the_documented_hash(m, dtype):
    x = m.tensor(np.arange(1, 301, dtype=np.float64).reshape(3, 100), dtype=dtype)
    y = x._dropout_seeded(0.3, 0x1234_5678_9ABC_DEF).numpy()
    want = np.array([hash_keep(0x1234_5678_9ABC_DEF, i, 0.3) for i in range(300)]).reshape(3, 100)
    np.testing.assert_array_equal(y != 0, want)
    np.testing.assert_allclose(y[want], x.numpy()[want] / 0.7, rtol=1e-6)


def test_dropout_same_mask_on_both_engines_after_manual_seed():
    a = np.random.default_rng(0).standard_normal((50, 40))
    for dtype in ("float32", "float64"):
        pygrad.manual_seed(7)
        ref.manual_seed(7)
        xc = pygrad.tensor(a, dtype=dtype, requires_grad=True)
        xr = ref.tensor(a, dtype=dtype, requires_grad=True)
        yc = pygrad.nn.functional.dropout(xc, 0.4)
        yr = ref.nn.functional.dropout(xr, 0.4)
        np.testing.assert_array_equal(yc.numpy(), yr.numpy())
        g = np.random.default_rng(1).standard_normal(a.shape)
        (yc * pygrad.tensor(g, dtype=dtype)).sum().backward()
        (yr * ref.tensor(g, dtype=dtype)).sum().backward()
        np.testing.assert_array_equal(xc.grad.numpy(), xr.grad.numpy())
        keep = yc.numpy() != 0
        np.testing.assert_allclose(xc.grad.numpy(), np.where(keep, g / 0.6, 0), rtol=1e-6)
        # a second call draws a fresh mask
        assert (pygrad.nn.functional.dropout(xc, 0.4).numpy() != 0).tolist() != keep.tolist()


@pytest.mark.parametrize("m", ENGINES)
def test_dropout_keeps_about_one_minus_p(m):
    m.manual_seed(123)
    x = m.ones(200_000)
    for p in (0.1, 0.5, 0.9):
        kept = float((m.nn.functional.dropout(x, p).numpy() != 0).mean())
        assert abs(kept - (1 - p)) < 0.005  # 200000 draws: the standard error is at most 0.0012


@pytest.mark.parametrize("m", ENGINES)
def test_dropout_identity_zeros_and_generator(m):
    x = m.tensor([[1.0, -2.0, 3.0]], requires_grad=True)
    assert m.nn.functional.dropout(x, 0.5, training=False) is x
    assert m.nn.functional.dropout(x, 0.0) is x
    y = m.nn.functional.dropout(x, 1.0)
    np.testing.assert_array_equal(y.numpy(), np.zeros((1, 3)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((1, 3)))
    z = m.randn(64, dtype="float64")
    a = m.nn.functional.dropout(z, 0.5, generator=np.random.default_rng(5)).numpy()
    b = m.nn.functional.dropout(z, 0.5, generator=np.random.default_rng(5)).numpy()
    c = m.nn.functional.dropout(z, 0.5, generator=np.random.default_rng(6)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("m", ENGINES)
def test_dropout_inplace(m):
    base = m.tensor(np.arange(1.0, 21.0), requires_grad=True)
    x = base * 1.0
    v0 = x.version
    y = m.nn.functional.dropout(x, 0.5, inplace=True, generator=np.random.default_rng(2))
    assert x.version > v0
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    keep = x.numpy() != 0
    assert 0 < keep.sum() < 20
    x.sum().backward()
    np.testing.assert_array_equal(base.grad.numpy(), np.where(keep, 2.0, 0.0))


@pytest.mark.parametrize("m", ENGINES)
def test_dropout_gradcheck_and_double_backward(m):
    x = m.tensor(np.random.default_rng(3).standard_normal((4, 6)), dtype="float64", requires_grad=True)
    v = m.tensor(np.random.default_rng(4).standard_normal((4, 6)), dtype="float64")

    def f(t):
        return (t._dropout_seeded(0.35, 42) * t * v).sum()  # x·keep/(1-p)·x: a nonzero second derivative

    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("m", ENGINES)
def test_nn_dropout_module(m):
    d = m.nn.Dropout(0.25)
    assert "p=0.25" in repr(d)
    x = m.ones(1000)
    m.manual_seed(9)
    y = d(x).numpy()
    assert set(np.unique(y).tolist()) <= {0.0, np.float32(1 / 0.75)}
    d.eval()
    assert d(x) is x
    seq = m.nn.Sequential(m.nn.Linear(3, 3), m.nn.Dropout(0.5))
    seq.eval()
    assert not seq[1].training
    with pytest.raises(PygradValueError, match="Dropout: dropout probability"):
        m.nn.Dropout(1.5)


@pytest.mark.parametrize("m", ENGINES)
def test_dropout_errors(m):
    x = m.ones(3)
    with pytest.raises(PygradValueError, match=r"dropout: dropout probability has to be between 0 and 1, but got -0.1"):
        m.nn.functional.dropout(x, -0.1)
    with pytest.raises(PygradValueError, match="dropout: dropout probability"):
        m.nn.functional.dropout(x, float("nan"))
    with pytest.raises(PygradTypeError, match="dropout: expected a float32 or float64 tensor, got int64"):
        m.nn.functional.dropout(m.tensor([1, 2]), 0.5)
    with pytest.raises(PygradTypeError, match="dropout: generator must be a numpy.random.Generator"):
        m.nn.functional.dropout(x, 0.5, generator="seed")
    with pytest.raises(PygradValueError, match="dropout: probability has to be between 0 and 1"):
        x._dropout_seeded(2.0, 1)


# ---------------------------------------------------------------- embedding ---


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_embedding_against_numpy(m, dtype):
    rng = np.random.default_rng(4)
    w = rng.standard_normal((6, 5))
    idx = rng.integers(0, 6, (3, 4))
    g = rng.standard_normal((3, 4, 5))
    for pad in (None, 2, -1):
        wt = m.tensor(w, dtype=dtype, requires_grad=True)
        y = m.nn.functional.embedding(idx, wt, padding_idx=pad)
        assert y.shape == (3, 4, 5) and y.dtype == wt.dtype
        np.testing.assert_allclose(y.numpy(), w[idx], rtol=1e-6)
        (y * m.tensor(g, dtype=dtype)).sum().backward()
        want = np.zeros_like(w)
        np.add.at(want, idx.reshape(-1), g.reshape(-1, 5))
        if pad is not None:
            want[pad % 6] = 0
        np.testing.assert_allclose(wt.grad.numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("m", ENGINES)
def test_embedding_index_kinds(m):
    w = m.tensor(np.arange(12.0).reshape(4, 3))
    want = np.arange(12.0).reshape(4, 3)[[3, 0, 3]]
    for idx in ([3, 0, 3], np.array([3, 0, 3]), np.array([3, 0, 3], dtype=np.int32), m.tensor([3, 0, 3]),
                m.tensor([3, 0, 3], dtype="int32")):
        np.testing.assert_array_equal(m.nn.functional.embedding(idx, w).numpy(), want)
    assert m.nn.functional.embedding(np.zeros((0, 2), dtype=np.int64), w).shape == (0, 2, 3)
    assert m.nn.functional.embedding(np.array(1), w).shape == (3,)


@pytest.mark.parametrize("m", ENGINES)
def test_embedding_gradcheck(m):
    w = m.tensor(np.random.default_rng(5).standard_normal((5, 3)), dtype="float64", requires_grad=True)
    idx = np.array([[1, 4, 1], [0, 3, 4]])
    v = m.tensor(np.random.default_rng(6).standard_normal((2, 3, 3)), dtype="float64")

    def f(t):
        e = m.nn.functional.embedding(idx, t)
        return (e * e * v).sum()

    assert gradcheck(f, (w,))
    assert gradgradcheck(f, (w,))
    # with padding_idx the padding row's gradient is zero (not the derivative), on both backward forms
    x = m.tensor(w.numpy(), requires_grad=True)
    e = m.nn.functional.embedding(idx, x, padding_idx=4)
    (e * e * v).sum().backward(create_graph=True)
    gx = x.grad
    x.grad = None
    wn, vn = w.numpy(), v.numpy().reshape(-1, 3)
    ssum = np.zeros((5, 3))  # S[r] = Σ_{i: idx[i] = r} v[i]
    np.add.at(ssum, idx.reshape(-1), vn)
    ssum[4] = 0
    np.testing.assert_allclose(gx.numpy(), 2 * wn * ssum, rtol=1e-12)
    (gx * gx).sum().backward()  # gx[r] = 2 w[r] S[r]  =>  d Σ gx² / dw[r] = 8 w[r] S[r]²
    np.testing.assert_allclose(x.grad.numpy(), 8 * wn * ssum**2, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m", ENGINES)
def test_nn_embedding_module_runs_on_the_op(m):
    e = m.nn.Embedding(10, 4, padding_idx=3, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(e.weight.numpy()[3], np.zeros(4))
    y = e(np.array([[3, 1], [1, 9]]))
    assert y.grad_fn.name == "embedding"
    y.sum().backward()
    gw = e.weight.grad.numpy()
    np.testing.assert_array_equal(gw[1], np.full(4, 2.0))
    np.testing.assert_array_equal(gw[3], np.zeros(4))
    with pytest.raises(PygradIndexError, match="embedding: index 10 is out of range for a table of 10 rows"):
        e(np.array([1, 10]))


def test_embedding_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    w = rng.standard_normal((7, 3))
    idx = rng.integers(0, 7, (2, 5))
    g = rng.standard_normal((2, 5, 3))
    tw = torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx=2)
    (ty * torch.tensor(g)).sum().backward()
    pw = pygrad.tensor(w, dtype="float64", requires_grad=True)
    py = pygrad.nn.functional.embedding(idx, pw, padding_idx=2)
    (py * pygrad.tensor(g, dtype="float64")).sum().backward()
    np.testing.assert_allclose(py.numpy(), ty.detach().numpy())
    np.testing.assert_allclose(pw.grad.numpy(), tw.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_embedding_scale_grad_by_freq_against_numpy(m, dtype):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((6, 4))
    idx = np.array([[1, 5, 1], [1, 0, 5]])  # row 1 three times, row 5 twice, row 0 once
    g = rng.standard_normal((2, 3, 4))
    for pad in (None, 5):
        wt = m.tensor(w, dtype=dtype, requires_grad=True)
        y = m.nn.functional.embedding(idx, wt, padding_idx=pad, scale_grad_by_freq=True)
        np.testing.assert_array_equal(y.numpy(), w[idx].astype(dtype))
        (y * m.tensor(g, dtype=dtype)).sum().backward()
        want = np.zeros_like(w)
        counts = np.bincount(idx.reshape(-1), minlength=6)
        np.add.at(want, idx.reshape(-1), g.reshape(-1, 4) / counts[idx.reshape(-1)][:, None])
        if pad is not None:
            want[pad] = 0
        np.testing.assert_allclose(wt.grad.numpy(), want, rtol=1e-5 if dtype == "float32" else 1e-13, atol=1e-6)
        np.testing.assert_allclose(want[1], g.reshape(-1, 4)[[0, 2, 3]].sum(0) / 3, rtol=1e-12)


@pytest.mark.parametrize("m", ENGINES)
def test_embedding_scale_grad_by_freq_gradcheck_and_double_backward(m):
    w = m.tensor(np.random.default_rng(8).standard_normal((5, 3)), dtype="float64", requires_grad=True)
    idx = np.array([[1, 4, 1], [0, 1, 4]])
    v = m.tensor(np.random.default_rng(9).standard_normal((2, 3, 3)), dtype="float64")

    def f(t):
        e = m.nn.functional.embedding(idx, t, scale_grad_by_freq=True)
        return (e * e * v).sum()

    # the gradient is scaled (not the derivative), so compare with the hand-derived form:
    # gx[r] = 2 w[r] S[r] / count(r), S[r] = Σ_{i: idx[i] = r} v[i];  d Σ gx² / dw[r] = 8 w[r] S[r]² / count(r)²
    # (PyTorch's value too: double backward is consistent with finite differences of the scaled gradient)
    x = m.tensor(w.numpy(), requires_grad=True)
    f(x).backward(create_graph=True)
    gx = x.grad
    x.grad = None
    wn, vn = w.numpy(), v.numpy().reshape(-1, 3)
    ssum = np.zeros((5, 3))
    np.add.at(ssum, idx.reshape(-1), vn)
    cnt = np.maximum(np.bincount(idx.reshape(-1), minlength=5), 1)[:, None]
    np.testing.assert_allclose(gx.numpy(), 2 * wn * ssum / cnt, rtol=1e-12)
    (gx * gx).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 8 * wn * ssum**2 / cnt**2, rtol=1e-12, atol=1e-12)
    # with every index distinct the scaling is 1 and finite differences apply; gradgradcheck holds with repeats
    assert gradcheck(lambda t: (m.nn.functional.embedding([3, 0, 2], t, scale_grad_by_freq=True) ** 2).sum(), (w,))
    assert gradgradcheck(f, (w,))


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0])
def test_embedding_max_norm_renormalises_the_rows_looked_up(m, norm_type):
    rng = np.random.default_rng(10)
    w0 = rng.standard_normal((6, 4)) * 3
    w = m.tensor(w0, dtype="float64", requires_grad=True)
    idx = np.array([[0, 2, 2], [5, 0, 3]])
    y = m.nn.functional.embedding(idx, w, max_norm=2.0, norm_type=norm_type)
    want = w0.copy()
    for r in np.unique(idx):
        n = np.sum(np.abs(w0[r]) ** norm_type) ** (1 / norm_type)
        if n > 2.0:
            want[r] = w0[r] * (2.0 / (n + 1e-7))
    np.testing.assert_allclose(w.numpy(), want, rtol=1e-13)  # in place, rows 1 and 4 untouched
    np.testing.assert_array_equal(w.numpy()[[1, 4]], w0[[1, 4]])
    np.testing.assert_allclose(y.numpy(), want[idx], rtol=1e-13)
    assert w.is_leaf and w.grad is None
    y.sum().backward()  # the renorm is outside the graph: the gradient is the plain scatter-add
    np.testing.assert_array_equal(w.grad.numpy()[0], np.full(4, 2.0))


def test_embedding_max_norm_and_freq_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    for dtype in ("float32", "float64"):
        w = rng.standard_normal((8, 5)) * 2
        idx = rng.integers(0, 8, (3, 6))
        g = rng.standard_normal((3, 6, 5))
        tw = torch.tensor(w, dtype=getattr(torch, dtype), requires_grad=True)
        ty = torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx=1, max_norm=1.5, norm_type=2.0,
                                           scale_grad_by_freq=True)
        (ty * torch.tensor(g, dtype=tw.dtype)).sum().backward()
        pw = pygrad.tensor(w, dtype=dtype, requires_grad=True)
        py = pygrad.nn.functional.embedding(idx, pw, padding_idx=1, max_norm=1.5, norm_type=2.0,
                                            scale_grad_by_freq=True)
        (py * pygrad.tensor(g, dtype=dtype)).sum().backward()
        tol = 1e-6 if dtype == "float32" else 1e-13
        np.testing.assert_allclose(pw.numpy(), tw.detach().numpy(), rtol=tol)
        np.testing.assert_allclose(py.numpy(), ty.detach().numpy(), rtol=tol)
        np.testing.assert_allclose(pw.grad.numpy(), tw.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("m", ENGINES)
def test_nn_embedding_max_norm_freq_and_sparse(m):
    e = m.nn.Embedding(10, 3, None, 1.0, 2.0, True, generator=np.random.default_rng(1))
    assert repr(e).endswith("Embedding(10, 3, max_norm=1.0, scale_grad_by_freq=True)")
    y = e(np.array([4, 4, 7]))
    assert np.all(np.linalg.norm(e.weight.numpy()[[4, 7]], axis=1) <= 1.0 + 1e-6)
    y.sum().backward()
    np.testing.assert_allclose(e.weight.grad.numpy()[4], np.ones(3), rtol=1e-6)  # 2 occurrences / 2
    with pytest.raises(PygradValueError, match=r"Embedding: sparse=True \(sparse gradients\) is not supported"):
        m.nn.Embedding(10, 3, sparse=True)
    with pytest.raises(PygradValueError, match=r"embedding: sparse=True"):
        m.nn.functional.embedding([0], m.ones(5, 2), sparse=True)
    with pytest.raises(PygradValueError, match=r"embedding: max_norm must be a number, got 'a'"):
        m.nn.functional.embedding([0], m.ones(5, 2), max_norm="a")
    with pytest.raises(PygradValueError, match=r"embedding: max_norm must be non-negative, got -1"):
        m.nn.functional.embedding([0], m.ones(5, 2), max_norm=-1)


@pytest.mark.parametrize("m", ENGINES)
def test_embedding_errors(m):
    w = m.ones(5, 2)
    with pytest.raises(PygradIndexError, match=r"embedding: index 5 is out of range for a table of 5 rows"):
        m.nn.functional.embedding([0, 5], w)
    with pytest.raises(PygradIndexError, match=r"embedding: index -1 is out of range"):
        m.nn.functional.embedding(np.array([-1]), w)
    with pytest.raises(PygradTypeError, match="embedding: indices must be an integer"):
        m.nn.functional.embedding(np.array([0.5]), w)
    with pytest.raises(ShapeError, match=r"embedding: weight must be 2-d"):
        m.nn.functional.embedding([0], m.ones(5))
    with pytest.raises(PygradIndexError, match="embedding: padding_idx must be within num_embeddings 5"):
        m.nn.functional.embedding([0], w, padding_idx=5)
    with pytest.raises(PygradTypeError, match="embedding: expected a float32 or float64 tensor"):
        m.nn.functional.embedding([0], m.tensor([[1, 2]]))
