"""PyTorch's Tensor conveniences on both engines (pygrad._derived): new_*, type_as, view_as, t, mT,
mm/bmm/mv/addmm, clamp_min/clamp_max/clip, amax/amin, isnan/isinf/isfinite, nan_to_num, where,
neg, dim, nelement, element_size, is_contiguous, cpu, masked_select, repeat_interleave, logaddexp,
hypot, diag, cross, index_add.

Values and gradients against PyTorch where it is installed (float64 and float32), against numpy and
hand-worked numbers everywhere, float64 finite differences, and error messages naming the op.
"""

from __future__ import annotations

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradError, PygradIndexError, PygradTypeError, PygradValueError, ShapeError
from pygrad.gradcheck import gradcheck

ENGINES = {"c": pygrad, "ref": ref}
IDX = np.array([2, 0, 2])

# (id, pygrad form fn(m, *xs), torch form fn(torch, *xs), input shapes)
CASES = [
    ("t", lambda m, x: x.t(), lambda T, x: x.t(), [(2, 3)]),
    ("t-fn-1d", lambda m, x: m.t(x), lambda T, x: T.t(x), [(3,)]),
    ("mT", lambda m, x: x.mT, lambda T, x: x.mT, [(2, 3, 4)]),
    ("view_as", lambda m, x, y: x.view_as(y), lambda T, x, y: x.view_as(y), [(2, 6), (3, 4)]),
    ("reshape_as", lambda m, x, y: x.reshape_as(y), lambda T, x, y: x.reshape_as(y), [(2, 6), (4, 3)]),
    ("mm", lambda m, a, b: m.mm(a, b), lambda T, a, b: T.mm(a, b), [(2, 3), (3, 4)]),
    ("mm-method", lambda m, a, b: a.mm(b), lambda T, a, b: a.mm(b), [(2, 3), (3, 4)]),
    ("bmm", lambda m, a, b: m.bmm(a, b), lambda T, a, b: T.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
    ("mv", lambda m, a, v: a.mv(v), lambda T, a, v: a.mv(v), [(3, 4), (4,)]),
    ("addmm", lambda m, x, a, b: m.addmm(x, a, b), lambda T, x, a, b: T.addmm(x, a, b), [(2, 4), (2, 3), (3, 4)]),
    ("addmm-ab", lambda m, x, a, b: x.addmm(a, b, beta=0.5, alpha=-2.0),
     lambda T, x, a, b: x.addmm(a, b, beta=0.5, alpha=-2.0), [(4,), (2, 3), (3, 4)]),
    ("clamp_min", lambda m, x: x.clamp_min(0.1), lambda T, x: x.clamp_min(0.1), [(3, 4)]),
    ("clamp_max", lambda m, x: m.clamp_max(x, -0.1), lambda T, x: T.clamp_max(x, -0.1), [(3, 4)]),
    ("clip", lambda m, x: m.clip(x, -0.5, 0.5), lambda T, x: T.clip(x, -0.5, 0.5), [(3, 4)]),
    ("clamp_min-tensor", lambda m, x, b: x.clamp_min(b), lambda T, x, b: x.clamp_min(b), [(3, 4), (4,)]),
    ("clamp_max-tensor", lambda m, x, b: m.clamp_max(x, b), lambda T, x, b: T.clamp_max(x, b), [(3, 4), (3, 1)]),
    ("clip-tensors", lambda m, x, a, b: m.clip(x, a, b + 1.0), lambda T, x, a, b: T.clip(x, a, b + 1.0),
     [(3, 4), (4,), (3, 4)]),
    ("clip-mixed", lambda m, x, b: x.clip(-0.3, b), lambda T, x, b: x.clip(T.full_like(x, -0.3), b),
     [(3, 4), (3, 4)]),  # PyTorch takes two numbers or two tensors; pygrad also one of each
    ("amax-all", lambda m, x: x.amax(), lambda T, x: x.amax(), [(3, 4)]),
    ("amax-dim", lambda m, x: m.amax(x, 1), lambda T, x: T.amax(x, 1), [(3, 4)]),
    ("amax-tuple-keep", lambda m, x: x.amax((0, 2), keepdim=True), lambda T, x: x.amax((0, 2), keepdim=True),
     [(2, 3, 4)]),
    ("amin-dim", lambda m, x: x.amin(-1), lambda T, x: x.amin(-1), [(3, 4)]),
    ("nan_to_num-finite", lambda m, x: x.nan_to_num(), lambda T, x: x.nan_to_num(), [(3,)]),
    ("where-method", lambda m, x, y: x.where(x > 0, y), lambda T, x, y: x.where(x > 0, y), [(3, 4), (3, 4)]),
    ("neg", lambda m, x: x.neg(), lambda T, x: x.neg(), [(3,)]),
    ("masked_select", lambda m, x: x.masked_select(x > 0), lambda T, x: x.masked_select(x > 0), [(3, 4)]),
    ("masked_select-bcast", lambda m, x, y: m.masked_select(x, y > 0), lambda T, x, y: T.masked_select(x, y > 0),
     [(4,), (3, 4)]),
    ("repeat_interleave", lambda m, x: x.repeat_interleave(2), lambda T, x: x.repeat_interleave(2), [(2, 3)]),
    ("repeat_interleave-dim", lambda m, x: m.repeat_interleave(x, 3, dim=1),
     lambda T, x: T.repeat_interleave(x, 3, dim=1), [(2, 3)]),
    ("repeat_interleave-counts", lambda m, x: x.repeat_interleave(m.tensor(np.array([1, 0, 2])), dim=0),
     lambda T, x: x.repeat_interleave(T.tensor([1, 0, 2]), dim=0), [(3, 2)]),
    ("logaddexp", lambda m, a, b: m.logaddexp(a, b), lambda T, a, b: T.logaddexp(a, b), [(3, 4), (4,)]),
    ("hypot", lambda m, a, b: a.hypot(b), lambda T, a, b: a.hypot(b), [(3, 4), (3, 4)]),
    ("diag-1d", lambda m, x: m.diag(x), lambda T, x: T.diag(x), [(3,)]),
    ("diag-1d-up", lambda m, x: x.diag(2), lambda T, x: x.diag(2), [(3,)]),
    ("diag-1d-down", lambda m, x: m.diag(x, -1), lambda T, x: T.diag(x, -1), [(3,)]),
    ("diag-2d", lambda m, x: m.diag(x, 1), lambda T, x: T.diag(x, 1), [(3, 4)]),
    ("cross", lambda m, a, b: m.cross(a, b), lambda T, a, b: T.linalg.cross(a, b), [(4, 3), (4, 3)]),
    ("cross-dim0-bcast", lambda m, a, b: a.cross(b, dim=0), lambda T, a, b: T.linalg.cross(a, b, dim=0),
     [(3, 2), (3, 1)]),
    ("index_add", lambda m, x, s: x.index_add(0, m.tensor(IDX), s),
     lambda T, x, s: x.index_add(0, T.tensor(IDX), s), [(3, 2), (3, 2)]),
    ("index_add-alpha", lambda m, x, s: m.index_add(x, 1, m.tensor(IDX), s, alpha=0.5),
     lambda T, x, s: T.index_add(x, 1, T.tensor(IDX), s, alpha=0.5), [(2, 4), (2, 3)]),
    ("type_as", lambda m, x, y: x.type_as(y), lambda T, x, y: x.type_as(y), [(3,), (2,)]),
    ("swapaxes", lambda m, x: x.swapaxes(0, -1), lambda T, x: x.swapaxes(0, -1), [(2, 3, 4)]),
    ("swapdims", lambda m, x: m.swapdims(x, 1, 2), lambda T, x: T.swapdims(x, 1, 2), [(2, 3, 4)]),
    ("frac", lambda m, x: (x * 3.0).frac(), lambda T, x: (x * 3.0).frac(), [(3, 4)]),
    ("sgn", lambda m, x: m.sgn(x) * x, lambda T, x: T.sgn(x) * x, [(3, 4)]),
    ("addcmul", lambda m, x, a, b: m.addcmul(x, a, b, value=0.5), lambda T, x, a, b: T.addcmul(x, a, b, value=0.5),
     [(3, 4), (4,), (3, 1)]),
    ("addcdiv", lambda m, x, a, b: x.addcdiv(a, b * b + 1.0, value=-2.0),
     lambda T, x, a, b: x.addcdiv(a, b * b + 1.0, value=-2.0), [(3, 4), (3, 4), (3, 4)]),
    ("baddbmm", lambda m, x, a, b: m.baddbmm(x, a, b, beta=0.5, alpha=2.0),
     lambda T, x, a, b: T.baddbmm(x, a, b, beta=0.5, alpha=2.0), [(3, 4), (2, 3, 5), (2, 5, 4)]),
    ("addbmm", lambda m, x, a, b: x.addbmm(a, b), lambda T, x, a, b: x.addbmm(a, b), [(3, 4), (2, 3, 5), (2, 5, 4)]),
    ("addmv", lambda m, x, a, v: m.addmv(x, a, v, alpha=3.0), lambda T, x, a, v: T.addmv(x, a, v, alpha=3.0),
     [(3,), (3, 4), (4,)]),
    ("inner", lambda m, a, b: m.inner(a, b), lambda T, a, b: T.inner(a, b), [(2, 3, 4), (5, 4)]),
    ("inner-1d", lambda m, a, b: a.inner(b), lambda T, a, b: a.inner(b), [(4,), (4,)]),
    ("kron", lambda m, a, b: m.kron(a, b), lambda T, a, b: T.kron(a, b), [(2, 3), (3, 2)]),
    ("kron-ndim", lambda m, a, b: a.kron(b), lambda T, a, b: a.kron(b), [(2,), (3, 2)]),
    ("trace", lambda m, x: m.trace(x), lambda T, x: T.trace(x), [(3, 4)]),
    ("select", lambda m, x: x.select(1, -1), lambda T, x: x.select(1, -1), [(2, 3, 4)]),
    ("rot90", lambda m, x: m.rot90(x), lambda T, x: T.rot90(x), [(2, 3)]),
    ("rot90-k2", lambda m, x: x.rot90(2, (1, 2)), lambda T, x: x.rot90(2, (1, 2)), [(2, 3, 4)]),
    ("rot90-k-1", lambda m, x: x.rot90(-1, (2, 0)), lambda T, x: x.rot90(-1, (2, 0)), [(2, 3, 4)]),
    ("diag_embed", lambda m, x: x.diag_embed(), lambda T, x: x.diag_embed(), [(2, 3)]),
    ("diag_embed-dims", lambda m, x: m.diag_embed(x, -1, 0, 2), lambda T, x: T.diag_embed(x, -1, 0, 2), [(2, 3)]),
    ("diagflat", lambda m, x: m.diagflat(x, 1), lambda T, x: T.diagflat(x, 1), [(2, 2)]),
    ("dist", lambda m, a, b: m.dist(a, b), lambda T, a, b: T.dist(a, b), [(3, 4), (4,)]),
    ("dist-p3", lambda m, a, b: a.dist(b, 3), lambda T, a, b: a.dist(b, 3), [(3, 4), (3, 4)]),
    ("xlogy", lambda m, a, b: m.xlogy(a, b * b + 0.1), lambda T, a, b: T.xlogy(a, b * b + 0.1), [(3, 4), (4,)]),
    ("logit", lambda m, x: x.sigmoid().logit(), lambda T, x: x.sigmoid().logit(), [(3, 4)]),
    ("logit-eps", lambda m, x: m.logit(x.sigmoid(), eps=0.2), lambda T, x: T.logit(x.sigmoid(), eps=0.2), [(3, 4)]),
    ("sinc", lambda m, x: m.sinc(x), lambda T, x: T.sinc(x), [(3, 4)]),
    ("nansum", lambda m, x: x.nansum(1), lambda T, x: x.nansum(1), [(3, 4)]),
    ("nanmean", lambda m, x: m.nanmean(x, (0, 2), keepdim=True), lambda T, x: T.nanmean(x, (0, 2), keepdim=True),
     [(2, 3, 4)]),
    ("median-all", lambda m, x: x.median(), lambda T, x: x.median(), [(3, 4)]),
    ("median-dim", lambda m, x: m.median(x, 1).values, lambda T, x: T.median(x, 1).values, [(3, 5)]),
    ("median-even-keep", lambda m, x: x.median(0, keepdim=True)[0], lambda T, x: x.median(0, keepdim=True)[0],
     [(4, 3)]),
    ("kthvalue", lambda m, x: x.kthvalue(3).values, lambda T, x: x.kthvalue(3).values, [(3, 5)]),
    ("kthvalue-dim0-keep", lambda m, x: m.kthvalue(x, 1, 0, True).values, lambda T, x: T.kthvalue(x, 1, 0, True)[0],
     [(4, 3)]),
    ("quantile", lambda m, x: m.quantile(x, 0.3, 1), lambda T, x: T.quantile(x, 0.3, 1), [(3, 6)]),
    ("quantile-all", lambda m, x: x.quantile(0.65), lambda T, x: x.quantile(0.65), [(3, 4)]),
    ("quantile-qs-keep", lambda m, x: x.quantile(m.tensor([0.0, 0.4, 1.0], dtype=x.dtype), 0, keepdim=True),
     lambda T, x: x.quantile(T.tensor([0.0, 0.4, 1.0], dtype=x.dtype), 0, keepdim=True), [(5, 2)]),
    ("quantile-lower", lambda m, x: m.quantile(x, 0.3, -1, interpolation="lower"),
     lambda T, x: T.quantile(x, 0.3, -1, interpolation="lower"), [(3, 6)]),
    ("quantile-higher", lambda m, x: m.quantile(x, 0.3, -1, interpolation="higher"),
     lambda T, x: T.quantile(x, 0.3, -1, interpolation="higher"), [(3, 6)]),
    ("quantile-midpoint", lambda m, x: m.quantile(x, 0.3, -1, interpolation="midpoint"),
     lambda T, x: T.quantile(x, 0.3, -1, interpolation="midpoint"), [(3, 6)]),
    ("quantile-nearest", lambda m, x: m.quantile(x, 0.5, -1, interpolation="nearest"),
     lambda T, x: T.quantile(x, 0.5, -1, interpolation="nearest"), [(3, 6)]),
    ("index_fill", lambda m, x: x.index_fill(1, m.tensor(np.array([0, 2])), -1.5),
     lambda T, x: x.index_fill(1, T.tensor([0, 2]), -1.5), [(2, 4)]),
    ("index_copy", lambda m, x, s: m.index_copy(x, 0, m.tensor(np.array([3, 1])), s),
     lambda T, x, s: T.index_copy(x, 0, T.tensor([3, 1]), s), [(4, 3), (2, 3)]),
]


def _inputs(shapes, seed=0):
    r = np.random.default_rng(seed)
    return [r.standard_normal(s) for s in shapes]


def _run(m, fn, arrays, dtype, seed=1):
    xs = [m.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    y = fn(m, *xs)
    g = np.random.default_rng(seed).standard_normal(y.shape)
    (y * m.tensor(g, dtype=y.dtype)).sum().backward()
    return y.detach().numpy(), [None if x.grad is None else x.grad.numpy() for x in xs], g


@pytest.mark.parametrize("eng", ENGINES)
@pytest.mark.parametrize("dt", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_against_torch(eng, dt, case):
    torch = pytest.importorskip("torch")
    m = ENGINES[eng]
    _, fn, tfn, shapes = case
    arrays = _inputs(shapes)
    y, grads, g = _run(m, fn, arrays, getattr(m, dt))
    ts = [torch.tensor(a, dtype=getattr(torch, dt), requires_grad=True) for a in arrays]
    ty = tfn(torch, *ts)
    (ty * torch.tensor(g, dtype=ty.dtype)).sum().backward()
    tol = dict(rtol=1e-12, atol=1e-12) if dt == "float64" else dict(rtol=1e-6, atol=1e-6)
    if case[0] == "sinc" and dt == "float32":
        tol = dict(rtol=1e-4, atol=1e-5)  # sin(πx) of a float32 πx: PyTorch rounds πx otherwise
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    for a, t in zip(grads, ts):
        tg = None if t.grad is None else t.grad.numpy()
        if tg is None:
            assert a is None or not a.any()
        else:
            np.testing.assert_allclose(a, tg, **tol)


GRAD_CASES = [c for c in CASES if c[0] not in ("type_as", "where-method", "masked_select")]


@pytest.mark.parametrize("eng", ENGINES)
@pytest.mark.parametrize("case", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradcheck(eng, case):
    m = ENGINES[eng]
    _, fn, _, shapes = case
    xs = [m.tensor(a, dtype=m.float64, requires_grad=True) for a in _inputs(shapes, 3)]
    # distinct values: amax/amin and clamp are differentiable away from ties and kinks
    gradcheck(lambda *t: (fn(m, *t) * fn(m, *t)).sum(), xs, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("eng", ENGINES)
def test_hand_values(eng):
    m = ENGINES[eng]
    x = m.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]], requires_grad=True)
    y = x.amax(1)
    np.testing.assert_array_equal(y.numpy(), [3.0, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [1, 0, 0]])  # ties share the gradient
    np.testing.assert_array_equal(m.amin(x).numpy(), -1.0)
    z = m.tensor([np.nan, np.inf, -np.inf, 1.5], requires_grad=True)
    np.testing.assert_array_equal(m.isnan(z).numpy(), [True, False, False, False])
    np.testing.assert_array_equal(z.isinf().numpy(), [False, True, True, False])
    np.testing.assert_array_equal(z.isfinite().numpy(), [False, False, False, True])
    assert z.isnan().dtype == np.bool_
    n = z.nan_to_num(nan=7.0, posinf=8.0)
    np.testing.assert_array_equal(n.numpy(), [7.0, 8.0, np.finfo(np.float32).min, 1.5])
    n.sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [0, 0, 0, 1])
    np.testing.assert_array_equal(m.isfinite(m.tensor(np.array([1, 2]))).numpy(), [True, True])
    ints = m.tensor(np.array([[3, 1], [2, 5]]))
    np.testing.assert_array_equal(ints.amax(1).numpy(), [3, 5])
    assert ints.amin().numpy() == 1 and ints.amin().dtype == np.int64
    np.testing.assert_array_equal(ints.nan_to_num().numpy(), ints.numpy())
    d = m.diag(m.tensor([1.0, 2.0]), 1).numpy()
    np.testing.assert_array_equal(d, [[0, 1, 0], [0, 0, 2], [0, 0, 0]])
    np.testing.assert_array_equal(m.cross(m.tensor([1.0, 0, 0]), m.tensor([0.0, 1, 0])).numpy(), [0, 0, 1])
    big = m.tensor([3e30, 3e-30], dtype=m.float32)
    np.testing.assert_allclose(m.hypot(big, big * 4.0 / 3.0).numpy(), [5e30, 5e-30], rtol=1e-6)
    np.testing.assert_allclose(m.logaddexp(m.tensor([1000.0]), m.tensor([1000.0])).numpy(), [1000 + np.log(2)])
    ia = m.index_add(m.zeros(3, 2), 0, m.tensor(np.array([0, 0, 2])), m.ones(3, 2), alpha=2.0)
    np.testing.assert_array_equal(ia.numpy(), [[4, 4], [0, 0], [2, 2]])
    np.testing.assert_array_equal(m.tensor([1.0, 2.0]).repeat_interleave(2).numpy(), [1, 1, 2, 2])
    np.testing.assert_array_equal(m.masked_select(m.tensor([1.0, 2.0, 3.0]),
                                                  m.tensor([True, False, True])).numpy(), [1, 3])
    np.testing.assert_array_equal(m.addmm(m.tensor([np.nan]), m.eye(2), m.eye(2), beta=0).numpy(), np.eye(2))
    a, b = m.tensor([1.0, 2.0, np.nan]), m.tensor([1.0, 3.0, np.nan])
    for name, want in (("eq", [1, 0, 0]), ("ne", [0, 1, 1]), ("lt", [0, 1, 0]), ("le", [1, 1, 0]), ("gt", [0, 0, 0]),
                       ("ge", [1, 0, 0])):
        got = getattr(a, name)(b)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got.numpy(), np.array(want, dtype=bool))
        np.testing.assert_array_equal(getattr(m, name)(a, 2.0).numpy(), getattr(np, {"eq": "equal", "ne": "not_equal",
                                      "lt": "less", "le": "less_equal", "gt": "greater",
                                      "ge": "greater_equal"}[name])(a.numpy(), 2.0))
    assert m.equal(b, m.tensor([1.0, 3.0, 4.0])) is False and m.equal(a[:2], m.tensor([1.0, 2.0])) is True
    assert not m.equal(m.ones(2), m.ones(3))
    np.testing.assert_array_equal((a > 1).logical_not().numpy(), [True, False, True])
    np.testing.assert_allclose(m.frac(m.tensor([-1.5, 2.25])).numpy(), [-0.5, 0.25])
    s = m.tensor([0.0, 0.5], dtype=m.float64, requires_grad=True)
    y = m.sinc(s)
    np.testing.assert_allclose(y.detach().numpy(), [1.0, 2 / np.pi])
    y.sum().backward()
    assert s.grad.numpy()[0] == 0.0
    xl = m.xlogy(m.tensor([0.0, 0.0, 2.0]), m.tensor([0.0, np.nan, np.e]))
    np.testing.assert_allclose(xl.numpy()[[0, 2]], [0.0, 2.0], rtol=1e-6)
    assert np.isnan(xl.numpy()[1])
    nn_ = m.tensor([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]], requires_grad=True)
    np.testing.assert_array_equal(nn_.nansum(1).detach().numpy(), [4.0, 0.0])
    nm = m.nanmean(nn_, 1)
    np.testing.assert_array_equal(nm.detach().numpy()[0], 2.0)
    assert np.isnan(nm.detach().numpy()[1])
    nm[0].backward()
    np.testing.assert_array_equal(nn_.grad.numpy(), [[0.5, 0, 0.5], [0, 0, 0]])
    np.testing.assert_array_equal(m.trace(m.tensor([[1.0, 2.0], [3.0, 4.0]])).numpy(), 5.0)
    np.testing.assert_array_equal(m.rot90(m.tensor([[1.0, 2.0], [3.0, 4.0]])).numpy(), [[2, 4], [1, 3]])
    np.testing.assert_array_equal(m.kron(m.tensor([1.0, 2.0]), m.tensor([1.0, 10.0])).numpy(), [1, 10, 2, 20])
    md = m.tensor([[3.0, 1.0, 2.0, 4.0], [1.0, np.nan, 0.0, 5.0]]).median(1)
    np.testing.assert_array_equal(md.values.numpy()[0], 2.0)  # the lower median
    assert np.isnan(md.values.numpy()[1]) and md.indices.numpy().tolist() == [2, 1]
    assert md.indices.dtype == np.int64
    assert np.isnan(m.quantile(m.tensor([1.0, np.nan]), 0.5).numpy())
    kv = m.kthvalue(m.tensor([5.0, 1.0, 4.0]), 2)
    assert kv.values.numpy() == 4.0 and kv.indices.numpy() == 2
    np.testing.assert_allclose(m.quantile(m.tensor([0.0, 10.0, 20.0, 30.0]), 0.5).numpy(), 15.0)
    np.testing.assert_array_equal(m.index_fill(m.zeros(2, 3), 1, [2], 7.0).numpy(), [[0, 0, 7], [0, 0, 7]])
    m.manual_seed(4)
    b = m.bernoulli(m.full((4000,), 0.25))
    assert b.dtype == np.float32 and set(np.unique(b.numpy())) <= {0.0, 1.0} and abs(b.numpy().mean() - 0.25) < 0.03
    other = ref if m is pygrad else pygrad
    other.manual_seed(4)
    np.testing.assert_array_equal(other.bernoulli(other.full((4000,), 0.25)).numpy(), b.numpy())  # same draw
    np.testing.assert_array_equal(m.bernoulli(m.zeros(5), p=1.0).numpy(), np.ones(5))


@pytest.mark.parametrize("eng", ENGINES)
def test_new_and_info(eng):
    m = ENGINES[eng]
    x = m.tensor([[1.0, 2.0, 3.0]], dtype=m.float64)
    for y, want in ((x.new_zeros(2, 3), np.zeros((2, 3))), (x.new_zeros((2,)), np.zeros(2)),
                    (x.new_ones(2), np.ones(2)), (x.new_full((2, 2), 4.5), np.full((2, 2), 4.5)),
                    (x.new_empty(3), np.zeros(3)), (x.new_tensor([1, 2]), np.array([1.0, 2.0]))):
        assert type(y) is type(x) and y.dtype == np.float64 and not y.requires_grad
        np.testing.assert_array_equal(y.numpy(), want)
    assert x.new_zeros(2, dtype=m.float32).dtype == np.float32
    assert x.new_ones(2, requires_grad=True).requires_grad
    c = x.new_tensor(m.tensor([1.0], requires_grad=True) * 2.0)
    assert not c.requires_grad and c.dtype == np.float64
    assert x.type_as(m.tensor([1.0], dtype=m.float32)).dtype == np.float32
    assert x.dim() == 2 and x.nelement() == 3 and x.element_size() == 8 and x.is_contiguous()
    assert m.tensor([1.0]).element_size() == 4 and x.cpu() is x
    assert x.mT.shape == (3, 1) and x.t().shape == (3, 1) and m.tensor(2.0).t().shape == ()
    np.testing.assert_array_equal(x.neg().numpy(), -x.numpy())
    np.testing.assert_array_equal(x.where(x > 1.5, 0.0).numpy(), [[0.0, 2.0, 3.0]])


@pytest.mark.parametrize("eng", ENGINES)
def test_double_backward(eng):
    m = ENGINES[eng]
    a = m.tensor([0.3, -1.2, 2.0], dtype=m.float64, requires_grad=True)
    b = m.tensor([1.1, 0.4, -0.7], dtype=m.float64, requires_grad=True)
    y = (m.hypot(a, b) + m.logaddexp(a, b)).sum()
    (ga,) = pygrad.autograd.grad(y, [a], create_graph=True)
    (gga,) = pygrad.autograd.grad(ga.sum(), [a])
    h = np.hypot(a.numpy(), b.numpy())
    s = 1 / (1 + np.exp(b.numpy() - a.numpy()))
    np.testing.assert_allclose(ga.detach().numpy(), a.numpy() / h + s, rtol=1e-12)
    # d/da Σ (a/h + σ(a - b)) = b²/h³ + σ(1 - σ)
    np.testing.assert_allclose(gga.numpy(), b.numpy() ** 2 / h ** 3 + s * (1 - s), rtol=1e-12)


ERRORS = [
    (lambda m: m.ones(2, 2, 2).t(), ShapeError, "t:"),
    (lambda m: m.ones(3).mT, ShapeError, "mT:"),
    (lambda m: m.mm(m.ones(2, 3), m.ones(2, 3)), ShapeError, "mm:"),
    (lambda m: m.mm(m.ones(2, 3), m.ones(3, 2, dtype=m.float64)), PygradTypeError, "mm:"),
    (lambda m: m.bmm(m.ones(2, 3, 4), m.ones(3, 4, 5)), ShapeError, "bmm:"),
    (lambda m: m.mv(m.ones(2, 3), m.ones(2)), ShapeError, "mv:"),
    (lambda m: m.addmm(m.ones(3, 3), m.ones(2, 3), m.ones(3, 2)), ShapeError, "addmm:"),
    (lambda m: m.amax(m.ones(2, 0), 1), PygradError, "amax:"),
    (lambda m: m.amin(m.ones(2), 3), ShapeError, "amin:"),
    (lambda m: m.masked_select(m.ones(2), m.ones(2)), PygradTypeError, "masked_select:"),
    (lambda m: m.masked_select(m.ones(2), m.tensor([True, False, True])), ShapeError, "masked_select:"),
    (lambda m: m.repeat_interleave(m.ones(2), -1), PygradError, "repeat_interleave:"),
    (lambda m: m.repeat_interleave(m.ones(3), m.tensor(np.array([1, 2])), dim=0), ShapeError,
     "repeat_interleave:"),
    (lambda m: m.logaddexp(m.ones(2), m.ones(3)), ShapeError, "logaddexp:"),
    (lambda m: m.hypot(m.ones(2), 1.0), PygradTypeError, "hypot:"),
    (lambda m: m.diag(m.ones(2, 2, 2)), ShapeError, "diag:"),
    (lambda m: m.cross(m.ones(4), m.ones(4)), ShapeError, "cross:"),
    (lambda m: m.index_add(m.ones(3), 0, m.tensor(np.array([0, 3])), m.ones(2)), PygradIndexError, "index_add:"),
    (lambda m: m.index_add(m.ones(3), 0, m.tensor(np.array([0])), m.ones(2)), ShapeError, "index_add:"),
    (lambda m: m.index_add(m.ones(3), 0, m.tensor([0.0]), m.ones(1)), PygradTypeError, "index_add:"),
    (lambda m: m.ones(2).new_zeros(-1), ShapeError, "new_zeros:"),
    (lambda m: m.nan_to_num(m.ones(2), nan="x"), PygradTypeError, "nan_to_num:"),
    (lambda m: m.clamp_min(m.ones(2), "a"), PygradTypeError, "clamp_min:"),
    (lambda m: m.clamp_max(m.ones(2), m.ones(3)), ShapeError, "clamp_max:"),
    (lambda m: m.clip(m.ones(2), m.ones(2, dtype=m.float64)), PygradTypeError, "clip:"),
    (lambda m: m.clip(m.ones(2)), PygradValueError, "clip:"),
    (lambda m: m.swapaxes(m.ones(2, 3), 0, 2), ShapeError, "swapaxes:"),
    (lambda m: m.addcmul(m.ones(2), m.ones(2), m.ones(2, dtype=m.float64)), PygradTypeError, "addcmul:"),
    (lambda m: m.baddbmm(m.ones(3, 3), m.ones(2, 3, 4), m.ones(2, 4, 2)), ShapeError, "baddbmm:"),
    (lambda m: m.addmv(m.ones(2), m.ones(2, 3), m.ones(2)), ShapeError, "mv:"),
    (lambda m: m.inner(m.ones(2, 3), m.ones(2)), ShapeError, "inner:"),
    (lambda m: m.trace(m.ones(2)), ShapeError, "trace:"),
    (lambda m: m.select(m.ones(2, 3), 1, 3), PygradIndexError, "select:"),
    (lambda m: m.rot90(m.ones(2, 3), 1, (0, 0)), ShapeError, "rot90:"),
    (lambda m: m.rot90(m.ones(3)), ShapeError, "rot90:"),
    (lambda m: m.diag_embed(m.ones(3), 0, 0, -2), ShapeError, "diag_embed:"),
    (lambda m: m.logit(m.tensor(np.array([1, 2]))), PygradTypeError, "logit:"),
    (lambda m: m.nansum(m.ones(2), 1), ShapeError, "nansum:"),
    (lambda m: m.xlogy(m.ones(2), m.ones(3)), ShapeError, "xlogy:"),
    (lambda m: m.kthvalue(m.ones(3), 4), PygradIndexError, "kthvalue:"),
    (lambda m: m.median(m.ones(2, 0), 1), PygradIndexError, "median:"),
    (lambda m: m.quantile(m.ones(3), 1.5), PygradValueError, "quantile:"),
    (lambda m: m.quantile(m.ones(3), 0.5, interpolation="cubic"), PygradValueError, "quantile:"),
    (lambda m: m.index_fill(m.ones(3), 0, [3], 1.0), PygradIndexError, "index_fill:"),
    (lambda m: m.index_copy(m.ones(3, 2), 0, [0], m.ones(2, 2)), ShapeError, "index_copy:"),
    (lambda m: m.bernoulli(m.full((2,), 1.5)), PygradValueError, "bernoulli:"),
]


@pytest.mark.parametrize("eng", ENGINES)
@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors(eng, i):
    fn, exc, msg = ERRORS[i]
    with pytest.raises(exc, match=msg):
        fn(ENGINES[eng])


def test_names_on_both_engines():
    for name in ("t", "mm", "bmm", "mv", "addmm", "clamp_min", "clamp_max", "clip", "amax", "amin", "isnan", "isinf",
                 "isfinite", "nan_to_num", "masked_select", "repeat_interleave", "logaddexp", "hypot", "diag",
                 "cross", "index_add", "swapaxes", "swapdims", "eq", "ne", "lt", "le", "gt", "ge", "equal", "sgn",
                 "frac", "addcmul", "addcdiv", "baddbmm", "addbmm", "addmv", "inner", "kron", "trace", "select",
                 "rot90", "diag_embed", "diagflat", "dist", "xlogy", "logit", "sinc", "nansum", "nanmean", "median",
                 "kthvalue", "quantile", "index_fill", "index_copy", "bernoulli"):
        for m in ENGINES.values():
            assert name in m.__all__ and callable(getattr(m, name))
