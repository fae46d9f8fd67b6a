"""embedding_renorm_ (F.embedding's max_norm, PyTorch's ``embedding_renorm_``): one op of each engine,
in place and outside the graph. The C engine against the reference engine (both dtypes, repeated
indices, every kind of norm), both against a plain formula and against PyTorch (when installed);
the version counter, empty indices and empty rows; bad input, with the same exception types on both
engines and the weight left as it was."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradIndexError, PygradRuntimeError, PygradTypeError, PygradValueError, ShapeError

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]
NORMS = [2.0, 1.0, 3.0, 0.5, math.inf, -math.inf, 0.0, -1.5]
TOL = {"float32": 1e-6, "float64": 1e-13}


def _norms(w: np.ndarray, p: float) -> np.ndarray:
    """Each row's p-norm in float64, written out as the formula."""
    a = np.abs(w.astype(np.float64))
    if p == math.inf:
        return a.max(1)
    if p == -math.inf:
        return a.min(1)
    if p == 0:
        return (a != 0).sum(1).astype(np.float64)
    with np.errstate(divide="ignore"):
        return (a**p).sum(1) ** (1 / p)


def _case(dtype: str, p: float, seed: int = 0):
    """A (V, D) table, repeated indices of shape (4, 6) and a max_norm between the rows' norms, so that
    some rows looked up are scaled and some are not."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((20, 7)) * 2).astype(dtype)
    if p == 0:
        w[rng.random(w.shape) < 0.3] = 0  # row norms (non-zero counts) of several values
    idx = rng.integers(0, 20, (4, 6))
    idx[0, :3] = idx[1, 2]  # a row met several times is scaled once
    max_norm = float(np.median(_norms(w, p)[np.unique(idx)]))
    return w, idx, max_norm


def _want(w: np.ndarray, idx: np.ndarray, max_norm: float, p: float) -> np.ndarray:
    out = w.astype(np.float64)
    n = _norms(w, p)
    for v in np.unique(idx):
        if n[v] > max_norm:
            out[v] *= max_norm / (n[v] + 1e-7)
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("p", NORMS)
def test_c_engine_matches_the_reference_and_the_formula(dtype, p):
    w0, idx, max_norm = _case(dtype, p)
    got = {}
    for m in (pygrad, ref):
        w = m.tensor(w0.copy(), dtype=dtype)
        assert w._embedding_renorm_(m.tensor(idx), max_norm, p) is w
        got[m] = w.numpy()
        assert got[m].dtype == w0.dtype
    np.testing.assert_allclose(got[pygrad], got[ref], rtol=TOL[dtype], atol=0)
    np.testing.assert_allclose(got[pygrad], _want(w0, idx, max_norm, p), rtol=TOL[dtype] * 4, atol=0)
    untouched = np.setdiff1d(np.arange(20), idx)
    np.testing.assert_array_equal(got[pygrad][untouched], w0[untouched])  # rows not looked up: the same bits
    scaled = (got[pygrad] != w0).any(1)
    assert 0 < scaled.sum() < len(np.unique(idx))  # the case scales some rows and leaves others


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("p", NORMS)
def test_against_torch(dtype, p):
    torch = pytest.importorskip("torch")
    w0, idx, max_norm = _case(dtype, p, seed=3)
    tw = torch.tensor(w0.copy())
    with torch.no_grad():
        torch.embedding_renorm_(tw, torch.tensor(idx), max_norm, p)
    w = pygrad.tensor(w0.copy(), dtype=dtype)
    w._embedding_renorm_(pygrad.tensor(idx), max_norm, p)
    # PyTorch sums a float32 row's norm in float32, pygrad in float64 (then rounded): a few ulps apart
    np.testing.assert_allclose(w.numpy(), tw.numpy(), rtol=4 * TOL[dtype], atol=0)


def test_against_torch_through_f_embedding():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for dtype in ("float32", "float64"):
        w0 = rng.standard_normal((50, 16)).astype(dtype) * 3
        idx = rng.integers(0, 50, (8, 9))
        tw = torch.tensor(w0.copy(), requires_grad=True)
        ty = torch.nn.functional.embedding(torch.tensor(idx), tw, max_norm=2.5, norm_type=1.5)
        pw = pygrad.tensor(w0.copy(), requires_grad=True)
        py = pygrad.nn.functional.embedding(pygrad.tensor(idx), pw, max_norm=2.5, norm_type=1.5)
        np.testing.assert_allclose(pw.numpy(), tw.detach().numpy(), rtol=4 * TOL[dtype])
        np.testing.assert_allclose(py.numpy(), ty.detach().numpy(), rtol=4 * TOL[dtype])


@pytest.mark.parametrize("m", ENGINES)
def test_in_place_outside_the_graph_and_the_version_moves(m):
    w0, idx, max_norm = _case("float64", 2.0)
    w = m.tensor(w0.copy(), requires_grad=True)  # a leaf that requires grad, grad mode on: as PyTorch's no_grad
    v0 = w.version
    w._embedding_renorm_(m.tensor(idx), max_norm, 2.0)
    assert w.version == v0 + 1 and w.is_leaf and w.grad is None and w.requires_grad
    w._embedding_renorm_(m.tensor(np.zeros((0,), np.int64)), max_norm, 2.0)  # no index: nothing changes
    assert w.version == v0 + 2
    np.testing.assert_array_equal(w.numpy(), _renormed(m, w0, idx, max_norm))
    e = m.tensor(np.zeros((4, 0)))  # rows of no element have norm 0 (inf norm too): left as they are
    for p in (2.0, math.inf, -math.inf, 0.0):
        e._embedding_renorm_(m.tensor([1, 3, 1]), 0.0, p)
    assert e.shape == (4, 0)


def _renormed(m, w0, idx, max_norm):
    w = m.tensor(w0.copy())
    w._embedding_renorm_(m.tensor(idx), max_norm, 2.0)
    return w.numpy()


@pytest.mark.parametrize("m", ENGINES)
def test_a_row_with_nan_or_inf(m):
    w = m.tensor(np.array([[3.0, np.nan], [4.0, 3.0], [np.inf, 1.0], [0.3, 0.4]]))
    w._embedding_renorm_(m.tensor([0, 1, 2, 3]), 1.0, 2.0)
    got = w.numpy()
    assert math.isnan(got[0, 1]) and got[0, 0] == 3.0  # norm NaN: not > max_norm, left as it is
    np.testing.assert_allclose(got[1], np.array([4.0, 3.0]) / (5 + 1e-7), rtol=1e-15)
    np.testing.assert_array_equal(got[2], [np.nan, 0.0])  # norm inf: scale 0 (inf · 0 is NaN)
    np.testing.assert_array_equal(got[3], [0.3, 0.4])  # below max_norm


@pytest.mark.parametrize("m", ENGINES)
def test_max_norm_zero_and_infinite(m):
    w0, idx, _ = _case("float64", 2.0)
    w = m.tensor(w0.copy())
    w._embedding_renorm_(m.tensor(idx), math.inf, 2.0)
    np.testing.assert_array_equal(w.numpy(), w0)
    w._embedding_renorm_(m.tensor(idx), 0.0, 2.0)
    np.testing.assert_allclose(w.numpy()[np.unique(idx)], 0.0, atol=1e-6)


@pytest.mark.parametrize("m", ENGINES)
def test_f_embedding_uses_the_op_with_each_kind_of_indices(m):
    w0, idx, max_norm = _case("float32", 2.0, seed=5)
    want = _renormed(m, w0, idx, max_norm)
    for given in (idx, idx.tolist(), m.tensor(idx), m.tensor(idx.astype(np.int32))):
        w = m.tensor(w0.copy(), requires_grad=True)
        y = m.nn.functional.embedding(given, w, max_norm=max_norm)
        np.testing.assert_array_equal(w.numpy(), want)
        np.testing.assert_array_equal(y.numpy(), want[idx])
        y.sum().backward()  # the renorm is outside the graph: the gradient is the plain scatter-add
        np.testing.assert_array_equal(w.grad.numpy(), np.bincount(idx.ravel(), minlength=20)[:, None]
                                      * np.ones((1, 7), np.float32))


def test_the_engines_agree_through_nn_embedding():
    out = {}
    for m in (pygrad, ref):
        e = m.nn.Embedding(12, 5, max_norm=0.8, norm_type=3.0, dtype="float64", generator=np.random.default_rng(2))
        ys = [e(m.tensor(i)).numpy() for i in np.random.default_rng(3).integers(0, 12, (3, 4, 5))]
        out[m] = (e.weight.numpy(), ys)
    np.testing.assert_allclose(out[pygrad][0], out[ref][0], rtol=1e-13)
    for a, b in zip(out[pygrad][1], out[ref][1]):
        np.testing.assert_allclose(a, b, rtol=1e-13)


BAD = [
    (lambda m: (m.tensor(np.ones((5, 2))), m.tensor([0, 5]), 1.0, 2.0), PygradIndexError,
     r"embedding_renorm_: index 5 \(at position 1 of indices \(2,\)\) is out of range for a table of 5 rows "
     r"\(weight \(5, 2\)\)"),
    (lambda m: (m.tensor(np.ones((5, 2))), m.tensor([[0], [-1]]), 1.0, 2.0), PygradIndexError,
     r"embedding_renorm_: index -1 \(at position 1 of indices \(2, 1\)\) is out of range"),
    (lambda m: (m.tensor(np.ones((5, 2))), m.tensor(np.array([0], np.int32)), 1.0, 2.0), PygradTypeError,
     r"embedding_renorm_: indices must be an int64 tensor, got int32 of shape \(1,\)"),
    (lambda m: (m.tensor(np.ones((5, 2))), m.tensor([0.0]), 1.0, 2.0), PygradTypeError,
     r"embedding_renorm_: indices must be an int64 tensor, got float32"),
    (lambda m: (m.tensor(np.ones((5, 2))), [0], 1.0, 2.0), PygradTypeError,
     r"embedding_renorm_: indices must be an int64 tensor, got list"),
    (lambda m: (m.tensor(np.ones((5, 2), np.int64)), m.tensor([0]), 1.0, 2.0), PygradTypeError,
     r"embedding_renorm_: weight must be a float32 or float64 tensor, got int64"),
    (lambda m: (m.tensor(np.ones(5)), m.tensor([0]), 1.0, 2.0), ShapeError,
     r"embedding_renorm_: weight must be 2-d \(num_embeddings, embedding_dim\), got shape \(5,\)"),
    (lambda m: (m.tensor(np.ones((5, 2))), m.tensor([0]), -1.0, 2.0), PygradValueError,
     r"embedding_renorm_: max_norm must be a non-negative number, got -1"),
    (lambda m: (m.tensor(np.ones((5, 2))), m.tensor([0]), math.nan, 2.0), PygradValueError,
     r"embedding_renorm_: max_norm must be a non-negative number, got nan"),
    (lambda m: (m.tensor(np.ones((5, 2))), m.tensor([0]), 1.0, math.nan), PygradValueError,
     r"embedding_renorm_: norm_type must be a number, got nan"),
]


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize(("make", "exc", "msg"), BAD)
def test_bad_input_raises_and_changes_nothing(m, make, exc, msg):
    w, idx, max_norm, p = make(m)
    before, version = w.numpy().copy(), w.version
    with pytest.raises(exc, match=msg):
        w._embedding_renorm_(idx, max_norm, p)
    np.testing.assert_array_equal(w.numpy(), before)
    assert w.version == version


@pytest.mark.parametrize("m", ENGINES)
def test_inference_tensors_are_refused_outside_inference_mode(m):
    with m.inference_mode():
        w = m.ones(5, 2)
        w._embedding_renorm_(m.tensor([0]), 1.0, 2.0)  # inside: allowed
    with pytest.raises(PygradRuntimeError, match="embedding_renorm_: in-place update to an inference tensor"):
        w._embedding_renorm_(m.tensor([0]), 1.0, 2.0)


@pytest.mark.parametrize("m", ENGINES)
def test_f_embedding_bad_max_norm(m):
    w = m.ones(5, 2)
    with pytest.raises(PygradValueError, match=r"embedding: max_norm must be non-negative, got -0.5"):
        m.nn.functional.embedding(m.tensor([0]), w, max_norm=-0.5)
    with pytest.raises(PygradValueError, match=r"embedding: norm_type must be a number, got nan"):
        m.nn.functional.embedding(m.tensor([0]), w, max_norm=1.0, norm_type=math.nan)
    with pytest.raises(PygradIndexError, match=r"embedding: index 7 is out of range for a table of 5 rows"):
        m.nn.functional.embedding(m.tensor([0, 7]), w, max_norm=1.0)
    np.testing.assert_array_equal(w.numpy(), np.ones((5, 2)))


def test_many_rows_over_threads_give_the_bits_of_one_thread():
    rng = np.random.default_rng(6)
    w0 = rng.standard_normal((5000, 64)).astype(np.float32)
    idx = rng.integers(0, 5000, (40, 100))
    n0 = pygrad.get_num_threads()
    got = []
    try:
        for n in (1, 2, 4):
            pygrad.set_num_threads(n)
            w = pygrad.tensor(w0.copy())
            w._embedding_renorm_(pygrad.tensor(idx), 7.5, 2.0)
            got.append(w.numpy())
    finally:
        pygrad.set_num_threads(n0)
    for g in got[1:]:
        np.testing.assert_array_equal(g, got[0])
    r = ref.tensor(w0.copy())
    r._embedding_renorm_(ref.tensor(idx), 7.5, 2.0)
    np.testing.assert_allclose(got[0], r.numpy(), rtol=1e-6, atol=0)
    assert (got[0] != w0).any(1).sum() > 1000
