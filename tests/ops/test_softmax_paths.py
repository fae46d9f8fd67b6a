"""softmax and log_softmax on shapes large enough for their kernels' paths: rows along the last dim
(log_softmax's exponentials taken a chunk at a time), and blocks of columns when the axis is not the
last (a slice wider than one block, a last block narrower than the others). Values and gradients
against a float64 numpy computation and the reference engine; rows of -inf, +inf and NaN as the
formula gives them; one thread against two, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref

# (shape, dim): rows of 1000 (> one chunk), a [n, inner] slice of 4096 rows and 100 columns (blocks of
# 64, the last of 36), a slice narrower than a block, a middle dim; rows shorter than 64 (taken 1024
# elements at a time)
CASES = [((3, 1000), -1), ((4096, 100), 0), ((2, 600, 40), 1), ((5, 7, 33), 0), ((6, 1), 1), ((1, 9), 0),
         ((3000, 7), 1), ((700, 63), -1), ((50, 64), 1)]  # short rows, several at once, across groups


def _want(x: np.ndarray, dim: int, log: bool) -> np.ndarray:
    m = np.max(x, axis=dim, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=dim, keepdims=True)
    return (x - m) - np.log(s) if log else e / s


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", CASES, ids=[f"{s}-{d}" for s, d in CASES])
def test_values_and_gradients(dtype, log, shape, dim) -> None:
    rng = np.random.default_rng(len(shape) * 100 + shape[0])
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    rtol = 2e-5 if dtype == "float32" else 1e-12
    grads = []
    for m in (pygrad, ref):
        t = m.tensor(x, requires_grad=True)
        y = t.log_softmax(dim) if log else t.softmax(dim)
        np.testing.assert_allclose(y.numpy(), _want(x.astype(np.float64), dim, log), rtol=rtol, atol=rtol)
        y.backward(m.tensor(g))
        grads.append(t.grad.numpy())
    y64 = _want(x.astype(np.float64), dim, log)
    g64 = g.astype(np.float64)
    if log:  # dx = g - e^y Σ g
        want = g64 - np.exp(y64) * g64.sum(axis=dim, keepdims=True)
    else:  # dx = y (g - Σ g y)
        want = y64 * (g64 - (g64 * y64).sum(axis=dim, keepdims=True))
    scale = np.abs(want).max() + 1
    np.testing.assert_allclose(grads[0], want, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(grads[0], grads[1], rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dim", [1, 0])
def test_infinities_and_nan(dtype, dim) -> None:
    """A row (column) of -inf gives NaN (0/0, as the formula); a +inf or a NaN makes its whole row NaN
    (PyTorch's values); -inf among finite values gives 0 (log: -inf)."""
    x = np.random.default_rng(1).standard_normal((5, 300)).astype(dtype)
    x[0] = -np.inf
    x[1, 7] = np.inf
    x[2, 30] = np.nan
    x[3, ::3] = -np.inf
    x = x if dim == 1 else np.ascontiguousarray(x.T)
    with np.errstate(invalid="ignore"):
        for log in (False, True):
            got = (pygrad.tensor(x).log_softmax(dim) if log else pygrad.tensor(x).softmax(dim)).numpy()
            want = ref.tensor(x).log_softmax(dim) if log else ref.tensor(x).softmax(dim)
            np.testing.assert_allclose(got, want.numpy(), rtol=2e-5, atol=1e-6)
            if not log:
                rows = got if dim == 1 else got.T
                assert np.isnan(rows[0]).all() and np.isnan(rows[2]).all()
                assert np.isnan(rows[1]).all()
                assert (rows[3, ::3] == 0).all() and abs(rows[3].sum() - 1) < 1e-5


@pytest.mark.parametrize("shape,dim", [((64, 2048), 1), ((2048, 300), 0), ((8, 512, 64), 1)])
def test_one_thread_and_two_agree_bit_for_bit(shape, dim) -> None:
    x = np.random.default_rng(2).standard_normal(shape).astype("float32")
    g = np.random.default_rng(3).standard_normal(shape).astype("float32")
    n = pygrad.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            pygrad.set_num_threads(threads)
            for log in (False, True):
                t = pygrad.tensor(x, requires_grad=True)
                y = t.log_softmax(dim) if log else t.softmax(dim)
                y.backward(pygrad.tensor(g))
                out.append((y.numpy().tobytes(), t.grad.numpy().tobytes()))
    finally:
        pygrad.set_num_threads(n)
    assert out[:2] == out[2:]


def test_special_rows_against_torch() -> None:
    torch = pytest.importorskip("torch")
    x = np.array([[1.0, np.inf, 2.0], [-np.inf, -np.inf, -np.inf], [0.5, np.nan, 1.0], [3.0, -np.inf, 1.0]],
                 dtype="float32")
    for log in (False, True):
        got = (pygrad.tensor(x).log_softmax(1) if log else pygrad.tensor(x).softmax(1)).numpy()
        t = torch.tensor(x)
        want = (torch.log_softmax(t, 1) if log else torch.softmax(t, 1)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("classes", [2, 10, 63, 64, 300])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_rows_short_and_long(dtype, classes, reduction) -> None:
    """cross_entropy's rows of fewer than 64 classes run several at once, longer ones one by one: the
    losses and the gradient against the reference engine, with ignored rows and special rows."""
    rng = np.random.default_rng(classes)
    n = 2000
    x = (rng.standard_normal((n, classes)) * 3).astype(dtype)
    y = rng.integers(0, classes, n)
    y[::7] = -100
    x[5] = -np.inf
    x[5, y[5]] = 0.0
    x[9, 1] = 1e30 if dtype == "float64" else 1e30
    out = []
    for m in (pygrad, ref):
        t = m.tensor(x, requires_grad=True)
        with np.errstate(all="ignore"):
            loss = m.nn.functional.cross_entropy(t, m.tensor(y), reduction=reduction, ignore_index=-100)
            loss.backward(m.tensor(np.ones(loss.shape, dtype)))
        out.append((loss.numpy(), t.grad.numpy()))
    rtol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=rtol, atol=rtol)
