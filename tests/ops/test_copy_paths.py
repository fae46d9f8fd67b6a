"""The fast paths of the ops that move data, checked against numpy and the reference engine.

index_map copies (and, backward, adds) each run of consecutive indices of its last dim
whole and fills a repeated element; basic indexing of large tensors records index_map
(one index vector per dim) instead of getitem (one offset per element); clone is the cast
op to its own dtype; where, comparisons and copies run contiguous rows in loops of their
own. The shapes here are large enough to take those paths (the op tables' small cases take
the general ones), and each result is compared with what the general path, numpy or the
reference engine gives, bit for bit where the operation is a copy.
"""

from __future__ import annotations

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref

DTYPES = ["float32", "float64"]


def _pair(shape, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return pygrad.tensor(x, requires_grad=True), ref.tensor(x, requires_grad=True), x


# (id, function on an engine's tensor, numpy twin, input shape)
MOVES = [
    ("expand-last", lambda x: x.expand(64, 300), lambda a: np.broadcast_to(a, (64, 300)), (64, 1)),
    ("expand-lead", lambda x: x.expand(5, 64, 40), lambda a: np.broadcast_to(a, (5, 64, 40)), (64, 40)),
    ("repeat", lambda x: x.repeat(3, 2), lambda a: np.tile(a, (3, 2)), (20, 50)),
    ("repeat-3d", lambda x: x.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)), (3, 4, 17)),
    ("roll", lambda x: x.roll(7, 1), lambda a: np.roll(a, 7, 1), (30, 64)),
    ("roll-flat", lambda x: x.roll(-100), lambda a: np.roll(a, -100), (30, 64)),
    ("flip", lambda x: x.flip(1), lambda a: a[:, ::-1], (30, 64)),
    ("tile", lambda x: pygrad.tile(x, (2, 2)) if isinstance(x, pygrad.Tensor) else ref.tile(x, (2, 2)),
     lambda a: np.tile(a, (2, 2)), (33, 40)),
    ("slice-cols", lambda x: x[:, 10:90], lambda a: a[:, 10:90], (100, 128)),
    ("slice-step", lambda x: x[::2, 5::3], lambda a: a[::2, 5::3], (100, 128)),
    ("slice-neg-step", lambda x: x[::-1, ::-2], lambda a: a[::-1, ::-2], (100, 128)),
    ("int-and-none", lambda x: x[3, None, ..., 1:], lambda a: a[3, None, ..., 1:], (5, 40, 130)),
    ("ellipsis-int", lambda x: x[..., 7], lambda a: a[..., 7], (40, 130, 9)),
    ("rows", lambda x: x[10:70], lambda a: a[10:70], (100, 128)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MOVES, ids=[c[0] for c in MOVES])
def test_moves_match_numpy_and_reference(case, dtype) -> None:
    _, fn, np_fn, shape = case
    c, r, a = _pair(shape, dtype)
    want = np_fn(a)
    yc, yr = fn(c), fn(r)
    assert yc.shape == want.shape and yc.dtype == yr.dtype
    np.testing.assert_array_equal(yc.numpy(), want)
    g = np.random.default_rng(1).standard_normal(want.shape).astype(dtype)
    (yc * pygrad.tensor(g)).sum().backward()
    (yr * ref.tensor(g)).sum().backward()
    # the gradient scatter-adds g into x: each element's terms in the result's order on both engines
    np.testing.assert_array_equal(c.grad.numpy(), r.grad.numpy())
    expect = np.zeros_like(a)
    np.add.at(expect.reshape(-1), np_fn(np.arange(a.size).reshape(shape)).reshape(-1), g.reshape(-1))
    np.testing.assert_allclose(c.grad.numpy(), expect, rtol=1e-6 if dtype == "float32" else 1e-13, atol=1e-5)


@pytest.mark.parametrize("dtype", ["bool", "int32", "int64"])
def test_moves_of_integer_and_bool_tensors(dtype) -> None:
    a = (np.random.default_rng(2).integers(-50, 50, (40, 64)) > 0 if dtype == "bool"
         else np.random.default_rng(2).integers(-50, 50, (40, 64))).astype(dtype)
    x = pygrad.tensor(a)
    np.testing.assert_array_equal(x[:, 3:60].numpy(), a[:, 3:60])
    np.testing.assert_array_equal(x.repeat(2, 2).numpy(), np.tile(a, (2, 2)))
    np.testing.assert_array_equal(x.roll(5, 1).numpy(), np.roll(a, 5, 1))
    np.testing.assert_array_equal(x[:, :1].expand(40, 64).numpy(), np.broadcast_to(a[:, :1], (40, 64)))
    c = x.clone()
    assert c.dtype == x.dtype
    np.testing.assert_array_equal(c.numpy(), a)


def test_large_basic_index_records_index_map_and_small_getitem() -> None:
    big = pygrad.ones(100, 128, requires_grad=True)
    small = pygrad.ones(4, 5, requires_grad=True)
    assert big[:, 1:].grad_fn.name == "index_map"
    assert big[3].grad_fn.name == "getitem"  # 128 elements: one offset each is cheaper
    assert small[1:, 2].grad_fn.name == "getitem"
    assert big[[1, 2]].grad_fn.name == "getitem"  # an advanced key: the offsets path


def test_large_index_errors_name_getitem() -> None:
    x = pygrad.ones(100, 128)
    with pytest.raises(IndexError, match="getitem"):
        x[100]
    with pytest.raises(IndexError, match="getitem"):
        x[:, :, 0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_clone_is_a_differentiable_copy(dtype) -> None:
    c, r, a = _pair((1000, 9), dtype)
    y = c.clone()
    assert y.grad_fn.name == "cast" and y.dtype == c.dtype
    with pygrad.no_grad():
        c.add_(1.0)  # the copy has its own storage
    np.testing.assert_array_equal(y.numpy(), a)
    g = np.random.default_rng(3).standard_normal(a.shape).astype(dtype)
    (y * pygrad.tensor(g)).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), g)
    yr = r.clone()
    (yr * ref.tensor(g)).sum().backward()
    np.testing.assert_array_equal(r.grad.numpy(), g)


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_and_comparisons_on_contiguous_rows(dtype) -> None:
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(100_000).astype(dtype), rng.standard_normal(100_000).astype(dtype)
    a[::97] = np.nan
    b[::89] = a[::89]
    x, y = pygrad.tensor(a, requires_grad=True), pygrad.tensor(b, requires_grad=True)
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
        np.testing.assert_array_equal(getattr(x, op)(y).numpy(), getattr(a, op)(b), err_msg=op)
        np.testing.assert_array_equal(getattr(x, op)(0.25).numpy(), getattr(a, op)(a.dtype.type(0.25)), err_msg=op)
    cond = x < y
    z = pygrad.where(cond, x, y)
    np.testing.assert_array_equal(z.numpy(), np.where(a < b, a, b))
    g = rng.standard_normal(a.size).astype(dtype)
    (z * pygrad.tensor(g)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(a < b, g, 0))
    np.testing.assert_array_equal(y.grad.numpy(), np.where(a < b, 0, g))


@pytest.mark.parametrize("dtype", DTYPES + ["int64", "int32", "bool"])
def test_where_with_scalar_operands(dtype) -> None:
    """where(c, x, scalar), where(c, scalar, x) and where(c, s, t) take loops with the scalar in a register:
    the values, bit for bit, and the float gradient to the tensor operand."""
    rng = np.random.default_rng(6)
    a = (rng.standard_normal(50_000) * 5).astype(dtype)
    c = rng.random(50_000) < 0.4
    cond = pygrad.tensor(c)
    s1, s2 = (True, False) if dtype == "bool" else (3, -2)
    for got, want in ((pygrad.where(cond, pygrad.tensor(a), s1), np.where(c, a, np.asarray(s1, dtype))),
                      (pygrad.where(cond, s2, pygrad.tensor(a)), np.where(c, np.asarray(s2, dtype), a)),
                      (pygrad.where(cond, s1, s2), np.where(c, s1, s2).astype(np.result_type(s1, s2)))):
        assert got.numpy().tobytes() == want.astype(got.numpy().dtype).tobytes()
    if dtype in DTYPES:
        x = pygrad.tensor(a, requires_grad=True)
        g = rng.standard_normal(a.size).astype(dtype)
        (pygrad.where(cond, x, 0.5) * pygrad.tensor(g)).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.where(c, g, 0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_and_mean_backward_spread_the_gradient(dtype) -> None:
    a = np.random.default_rng(5).standard_normal((300, 70)).astype(dtype)
    for reduce, axis in (("sum", None), ("mean", None), ("sum", 0), ("mean", 0), ("mean", 1)):
        c, r = pygrad.tensor(a, requires_grad=True), ref.tensor(a, requires_grad=True)
        for t, m in ((c, pygrad), (r, ref)):
            y = getattr(t, reduce)() if axis is None else getattr(t, reduce)(axis)
            w = np.arange(1, y.numel() + 1, dtype=dtype).reshape(y.shape)
            (y * m.tensor(w)).sum().backward()
        np.testing.assert_array_equal(c.grad.numpy(), r.grad.numpy(), err_msg=f"{reduce} {axis}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_amax_amin_are_the_reduction_ops(dtype) -> None:
    a = np.random.default_rng(6).integers(-3, 3, (50, 40)).astype(dtype)  # many ties
    a[7, 3] = a[7, 9] = np.nan
    for m in (pygrad, ref):
        x = m.tensor(a, requires_grad=True)
        y = x.amax(1)
        assert y.grad_fn.name == "max"
        w = np.arange(1, 51, dtype=dtype)
        (y * m.tensor(w)).sum().backward()
        with np.errstate(invalid="ignore"):
            tie = (a == np.nanmax(a, 1, keepdims=True)) & ~np.isnan(a)
        tie[7] = np.isnan(a[7])  # a NaN maximum: the NaNs share the gradient
        np.testing.assert_array_equal(y.numpy(), np.max(a, 1))
        np.testing.assert_allclose(x.grad.numpy(), tie * (w[:, None] / tie.sum(1, keepdims=True)), rtol=1e-6)
        z = m.tensor(a, requires_grad=True)
        z.amin((0, 1), keepdim=True).sum().backward()
        np.testing.assert_array_equal(z.grad.numpy(), np.isnan(a) / 2)  # the NaN minimum of all


def _sequential_extreme(v: np.ndarray, mx: bool):
    """The rule the kernels keep, element by element in order from -inf (max) / +inf (min): a value
    replaces the extreme when it is beyond it or NaN (so the last NaN stays, and of +0 and -0 the
    first met stays)."""
    a = v.dtype.type(-np.inf if mx else np.inf)
    for e in v:
        if (e > a if mx else e < a) or np.isnan(e):
            a = e
    return a


def _extreme_rows(dtype, kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((6, n)).astype(dtype)
    if kind == "zeros":  # an extreme of 0: +0 and -0 compare equal, the first met is kept
        a = -np.abs(a)
        a[:, rng.integers(0, n, 3)] = 0.0
        a[:, rng.integers(0, n, 3)] = -0.0
        a[1, :] = -0.0
        a[1, n // 2] = 0.0
    elif kind == "nan":
        a[0, n - 1] = np.nan
        a[2, 0] = a[2, n // 3] = np.nan
        a[4, :] = np.nan
    elif kind == "inf":
        a[0, min(5, n - 1)] = np.inf
        a[3, :] = -np.inf
        a[5, n - 2] = -np.inf
    return a


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["random", "zeros", "nan", "inf"])
@pytest.mark.parametrize("n", [1, 15, 64, 257, 5000])
def test_max_min_along_rows_keep_the_sequential_rule(dtype, kind, n) -> None:
    """max/min along contiguous rows and over everything run vector lanes; the value, bit for bit (the
    sign of a zero extreme, NaN), is the one the element-by-element rule gives; the gradient goes to
    the elements equal to it, split among ties."""
    a = _extreme_rows(dtype, kind, n, seed=n)
    for mx in (True, False):
        x = pygrad.tensor(a, requires_grad=True)
        y = x.amax(1) if mx else x.amin(1)
        want = np.array([_sequential_extreme(r, mx) for r in a], dtype=dtype)
        assert y.numpy().tobytes() == want.tobytes(), (mx, kind)
        whole = (x.amax() if mx else x.amin()).numpy()
        assert whole.tobytes() == np.asarray(_sequential_extreme(a.reshape(-1), mx), dtype).tobytes()
        w = np.arange(1, 7, dtype=dtype)
        (y * pygrad.tensor(w)).sum().backward()
        with np.errstate(invalid="ignore"):
            tie = (a == want[:, None]) | (np.isnan(a) & np.isnan(want)[:, None])
        np.testing.assert_allclose(x.grad.numpy(), tie * (w[:, None] / tie.sum(1, keepdims=True)), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_min_over_the_leading_dim(dtype) -> None:
    """A reduction over dim 0 takes each column's extreme elementwise, row after row: the values and
    the gradient (ties and NaN columns) against numpy and the reference engine."""
    a = np.random.default_rng(3).integers(-4, 4, (300, 70)).astype(dtype)
    a[10, 3] = a[200, 3] = np.nan
    a[:, 5] = -0.0
    a[7, 5] = 0.0
    for mx in (True, False):
        grads = []
        for m in (pygrad, ref):
            x = m.tensor(a, requires_grad=True)
            y = x.amax(0) if mx else x.amin(0)
            np.testing.assert_array_equal(y.numpy(), np.max(a, 0) if mx else np.min(a, 0))
            (y * m.tensor(np.arange(1, 71, dtype=dtype))).sum().backward()
            grads.append(x.grad.numpy())
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


def test_amax_records_under_compile() -> None:
    w = pygrad.tensor(np.random.default_rng(7).standard_normal((30, 20)).astype("float32"), requires_grad=True)

    @pygrad.compile(fullgraph=True)
    def step(x):
        w.grad = None
        loss = (x @ w).amax(1).sum()
        loss.backward()
        return loss, w.grad

    x = pygrad.tensor(np.random.default_rng(8).standard_normal((64, 30)).astype("float32"))
    for _ in range(3):
        loss, g = step(x)
    w2 = pygrad.tensor(w.numpy(), requires_grad=True)
    (x @ w2).amax(1).sum().backward()
    assert step.records == 1
    np.testing.assert_array_equal(g.numpy(), w2.grad.numpy())
