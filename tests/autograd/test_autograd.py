"""Graph semantics of the C engine: fan-out, accumulation, retained graphs,
grad mode, in-place updates, dtype rules, operators with Python and numpy
operands, a million-op chain and threads.

Every expected number comes from a hand formula evaluated with numpy in
float64, never from the engine itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import math
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

import pygrad as pg

F32 = {"rtol": 2e-6, "atol": 1e-6}
F64 = {"rtol": 1e-12, "atol": 1e-12}


def tol(dtype: Any) -> dict[str, float]:
    return F64 if dtype == pg.float64 else F32


def close(actual: Any, expected: Any, dtype: Any = None) -> None:
    a = actual.numpy() if isinstance(actual, pg.Tensor) else np.asarray(actual)
    d = dtype if dtype is not None else (actual.dtype if isinstance(actual, pg.Tensor) else pg.float64)
    np.testing.assert_allclose(a, expected, **tol(d))


# ---------------------------------------------------------------------------
# graph shapes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [pg.float32, pg.float64])
def test_x_times_x(rng: np.random.Generator, dtype: Any) -> None:
    xv = rng.standard_normal(5)
    g = rng.standard_normal(5)
    x = pg.tensor(xv, dtype=dtype, requires_grad=True)
    y = x * x
    y.backward(pg.tensor(g, dtype=dtype))
    xs = xv.astype(dtype).astype(np.float64)
    close(x.grad, 2.0 * xs * g.astype(dtype), dtype)
    assert x.grad.dtype == dtype and x.grad.shape == (5,)


def test_x_plus_x(rng: np.random.Generator) -> None:
    g = rng.standard_normal((2, 3))
    x = pg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    (x + x).backward(pg.tensor(g))
    close(x.grad, 2.0 * g)


def test_diamond(rng: np.random.Generator) -> None:
    # y = 2x; z = y*y + y  =>  dz/dx = (2y + 1) * 2 = 8x + 2
    xv = rng.standard_normal(4)
    g = rng.standard_normal(4)
    x = pg.tensor(xv, requires_grad=True)
    y = x * 2.0
    z = y * y + y
    close(z, 4.0 * xv**2 + 2.0 * xv)
    z.backward(pg.tensor(g))
    close(x.grad, (8.0 * xv + 2.0) * g)


def test_long_shared_branch_sum_of_50_consumers(rng: np.random.Generator) -> None:
    # h = tanh(x); total = sum_k k*h (k = 1..50)  =>  d total/dx = 1275 (1 - tanh^2 x)
    xv = rng.standard_normal(3)
    g = rng.standard_normal(3)
    x = pg.tensor(xv, requires_grad=True)
    h = x.tanh()
    total = h * 1.0
    for k in range(2, 51):
        total = total + h * float(k)
    total.backward(pg.tensor(g))
    close(x.grad, 1275.0 * (1.0 - np.tanh(xv) ** 2) * g)


def test_long_shared_branch_product_of_50_factors() -> None:
    # p = h^50 built as h*h*...*h, each factor the same node  =>  dp/dx = 50 h^49 h'
    xv = np.array([0.9, 1.1, 1.0])
    x = pg.tensor(xv, requires_grad=True)
    h = x + 0.0
    p = h
    for _ in range(49):
        p = p * h
    close(p, xv**50)
    p.sum().backward()
    close(x.grad, 50.0 * xv**49)


def test_fan_out_into_different_ops(rng: np.random.Generator) -> None:
    # f = sum(exp(x) + x*x + sigmoid(x))  =>  f' = exp(x) + 2x + s(1-s)
    xv = rng.standard_normal(6)
    x = pg.tensor(xv, requires_grad=True)
    (x.exp() + x * x + x.sigmoid()).sum().backward()
    s = 1.0 / (1.0 + np.exp(-xv))
    close(x.grad, np.exp(xv) + 2.0 * xv + s * (1.0 - s))


# ---------------------------------------------------------------------------
# accumulation, retain_graph, zeroing, retain_grad
# ---------------------------------------------------------------------------


def test_grad_accumulates_across_backward_calls() -> None:
    xv = np.array([1.0, -2.0, 3.0])
    x = pg.tensor(xv, requires_grad=True)
    (x * x).sum().backward()
    close(x.grad, 2.0 * xv)
    (x * x).sum().backward()
    close(x.grad, 4.0 * xv)


def test_retain_graph_allows_a_second_backward() -> None:
    xv = np.array([0.5, 1.5])
    x = pg.tensor(xv, requires_grad=True)
    y = (x * x * 3.0).sum()
    y.backward(retain_graph=True)
    close(x.grad, 6.0 * xv)
    y.backward(retain_graph=True)
    close(x.grad, 12.0 * xv)
    y.backward()
    close(x.grad, 18.0 * xv)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    close(x.grad, 18.0 * xv)


def test_zeroing_grad_with_none() -> None:
    xv = np.array([1.0, 2.0])
    x = pg.tensor(xv, requires_grad=True)
    (x * x).sum().backward()
    x.grad = None
    assert x.grad is None
    (x * 5.0).sum().backward()
    close(x.grad, [5.0, 5.0])


def test_zeroing_grad_in_place() -> None:
    xv = np.array([1.0, 2.0])
    x = pg.tensor(xv, requires_grad=True)
    (x * x).sum().backward()
    x.grad.zero_()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])
    (x * 5.0).sum().backward()
    close(x.grad, [5.0, 5.0])


def test_retain_grad_on_a_non_leaf() -> None:
    xv = np.array([1.0, -2.0, 0.5])
    x = pg.tensor(xv, requires_grad=True)
    y = x * 3.0
    y.retain_grad()
    (y * y).sum().backward()
    close(y.grad, 2.0 * 3.0 * xv)  # d/dy sum(y^2) = 2y
    close(x.grad, 18.0 * xv)
    assert y.grad.shape == y.shape and y.grad.dtype == y.dtype


def test_non_leaf_grad_is_none_without_retain_grad() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    (y * y).sum().backward()
    assert y.grad is None
    assert not y.is_leaf and x.is_leaf
    close(x.grad, [18.0, 36.0])


def test_backward_with_explicit_upstream_gradient(rng: np.random.Generator) -> None:
    xv = rng.standard_normal((2, 3))
    g = rng.standard_normal((2, 3))
    x = pg.tensor(xv, requires_grad=True)
    (x * x).backward(pg.tensor(g))
    close(x.grad, 2.0 * xv * g)
    x.grad = None
    (x * x).backward(g)  # a numpy upstream gradient works too
    close(x.grad, 2.0 * xv * g)


def test_zero_dim_graph() -> None:
    # y = x^3 - 2x + e^x at x = 0.7  =>  y' = 3x^2 - 2 + e^x
    x = pg.tensor(np.float64(0.7), requires_grad=True)
    y = x**3 - x * 2.0 + x.exp()
    assert y.shape == () and y.dtype == pg.float64
    close(y, 0.7**3 - 1.4 + math.exp(0.7))
    y.backward()
    assert x.grad.shape == () and x.grad.dtype == pg.float64
    close(x.grad, 3 * 0.49 - 2.0 + math.exp(0.7))


# ---------------------------------------------------------------------------
# detach and numpy views
# ---------------------------------------------------------------------------


def test_detach_cuts_the_graph() -> None:
    xv = np.array([1.0, 2.0, 3.0])
    x = pg.tensor(xv, requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    (x * d).sum().backward()  # d is a constant: the gradient is d = x, not 2x
    close(x.grad, xv)
    y = (x * 2.0).detach()
    assert not y.requires_grad and y.grad_fn is None


def test_detach_shares_memory() -> None:
    x = pg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = x.detach()
    d.numpy()[0] = 10.0
    np.testing.assert_array_equal(x.numpy(), [10.0, 2.0, 3.0])
    d.add_(1.0)  # d does not require grad: in place is allowed and shows in x
    np.testing.assert_array_equal(x.numpy(), [11.0, 3.0, 4.0])


def test_numpy_view_is_zero_copy_both_ways() -> None:
    t = pg.tensor([1.0, 2.0, 3.0])
    a = t.numpy()
    assert np.shares_memory(a, t.numpy())
    a[1] = 7.0  # view -> tensor
    np.testing.assert_array_equal((t * 2.0).numpy(), [2.0, 14.0, 6.0])
    t.add_(1.0)  # tensor -> view
    np.testing.assert_array_equal(a, [2.0, 8.0, 4.0])


def test_numpy_view_keeps_the_data_alive() -> None:
    gc.collect()
    before = pg.live_objects()["tensors"]
    t = pg.tensor(np.arange(1000, dtype=np.float64))
    a = t.numpy()
    del t
    gc.collect()
    assert pg.live_objects()["tensors"] == before + 1
    _ = np.ones(100_000)  # churn the allocator
    np.testing.assert_array_equal(a, np.arange(1000.0))
    a[3] = -1.0
    assert a[3] == -1.0 and a.sum() == np.arange(1000.0).sum() - 4.0
    del a
    gc.collect()
    assert pg.live_objects()["tensors"] == before


# ---------------------------------------------------------------------------
# grad mode
# ---------------------------------------------------------------------------


def test_no_grad_records_nothing() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    with pg.no_grad():
        assert not pg.is_grad_enabled()
        y = (x * 2.0).exp().sum()
    assert pg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    with pytest.raises(RuntimeError):
        y.backward()


def test_no_grad_as_decorator() -> None:
    @pg.no_grad()
    def step(t: pg.Tensor) -> pg.Tensor:
        assert not pg.is_grad_enabled()
        return t * 2.0

    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = step(x)
    assert not y.requires_grad and y.grad_fn is None
    assert pg.is_grad_enabled()
    z = x * 2.0
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_nested_with_enable_grad() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    with pg.no_grad():
        a = x * 2.0
        with pg.enable_grad():
            assert pg.is_grad_enabled()
            b = x * 3.0
            with pg.no_grad():
                c = x * 4.0
            d = x * 5.0
        e = x * 6.0
    assert [t.requires_grad for t in (a, b, c, d, e)] == [False, True, False, True, False]
    assert pg.is_grad_enabled()
    (b + d).sum().backward()
    close(x.grad, [8.0, 8.0])


def test_grad_mode_restored_after_an_exception() -> None:
    with pytest.raises(KeyError):
        with pg.no_grad():
            raise KeyError("boom")
    assert pg.is_grad_enabled()


def test_grad_mode_is_per_thread() -> None:
    inside = threading.Event()
    checked = threading.Event()
    seen: dict[str, Any] = {}

    def worker() -> None:
        with pg.no_grad():
            inside.set()
            checked.wait(timeout=30)
            x = pg.ones(2, requires_grad=True)
            seen["worker"] = (pg.is_grad_enabled(), (x * 2.0).requires_grad)

    th = threading.Thread(target=worker)
    th.start()
    assert inside.wait(timeout=30)
    x = pg.ones(2, requires_grad=True)
    seen["main"] = (pg.is_grad_enabled(), (x * 2.0).requires_grad)
    checked.set()
    th.join(timeout=30)
    assert seen == {"main": (True, True), "worker": (False, False)}


def test_grad_mode_off_in_main_thread_does_not_reach_a_new_thread() -> None:
    seen = {}

    def worker() -> None:
        x = pg.ones(2, requires_grad=True)
        seen["worker"] = (pg.is_grad_enabled(), (x * 2.0).requires_grad)

    with pg.no_grad():
        th = threading.Thread(target=worker)
        th.start()
        th.join(timeout=30)
    assert seen == {"worker": (True, True)}


# ---------------------------------------------------------------------------
# in-place updates and the += idiom
# ---------------------------------------------------------------------------


def test_total_plus_equals_loss_rebinds() -> None:
    xv = np.array([1.0, 2.0, 3.0])
    x = pg.tensor(xv, requires_grad=True)
    total = 0.0
    for _ in range(3):
        loss = (x * x).sum()
        total += loss
    assert isinstance(total, pg.Tensor) and total.requires_grad
    close(total, 3.0 * 14.0)
    total.backward()
    close(x.grad, 6.0 * xv)


def test_plus_equals_on_a_graph_tensor() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    acc = (x * x).sum()
    acc += (x * 3.0).sum()
    assert acc.requires_grad and acc.grad_fn is not None
    close(acc, 14.0)
    acc.backward()
    close(x.grad, [2.0 + 3.0, 4.0 + 3.0])


def test_inplace_ops_on_non_leaves_are_differentiated() -> None:
    # y = 2x; y += x (y = 3x); y *= x (y = 3x^2)  =>  d sum(y)/dx = 6x
    xv = np.array([1.0, -2.0, 0.5])
    x = pg.tensor(xv, requires_grad=True)
    y = x * 2.0
    y += x
    y *= x
    close(y, 3.0 * xv**2)
    y.sum().backward()
    close(x.grad, 6.0 * xv)


def test_sgd_step_under_no_grad_updates_data_and_version() -> None:
    wv = np.array([1.0, -2.0, 3.0])
    w = pg.tensor(wv, requires_grad=True)
    (w * w).sum().backward()
    v0 = w.version
    lr = 0.1
    with pg.no_grad():
        w -= lr * w.grad
    assert w.version == v0 + 1
    close(w, wv - lr * 2.0 * wv, pg.float32)
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    close(w.grad, 2.0 * wv)
    with pg.no_grad():
        w *= 2.0
        w += 1.0
    assert w.version == v0 + 3
    close(w, 2.0 * 0.8 * wv + 1.0, pg.float32)


def test_inplace_on_a_plain_tensor_bumps_version() -> None:
    t = pg.tensor([1.0, 2.0])
    v0 = t.version
    t.add_(1.0)
    t.mul_(pg.tensor([2.0, 3.0]))
    t.sub_(1.0)
    assert t.version == v0 + 3
    np.testing.assert_array_equal(t.numpy(), [3.0, 8.0])


# ---------------------------------------------------------------------------
# comparisons and dtype rules
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lt", "le", "gt", "ge", "eq", "ne"])
def test_comparisons_return_bool_without_grad(name: str) -> None:
    xv = np.array([1.0, 2.0, 3.0])
    other = np.array([2.0, 2.0, 2.0])
    x = pg.tensor(xv, requires_grad=True)
    cmp = getattr(np, {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
                       "eq": "equal", "ne": "not_equal"}[name])
    for rhs in (2.0, pg.tensor(other)):
        out = getattr(x, f"__{name}__")(rhs)
        assert out.dtype == pg.bool_
        assert not out.requires_grad and out.grad_fn is None
        np.testing.assert_array_equal(out.numpy(), cmp(xv, other))


def test_default_dtypes() -> None:
    assert pg.tensor(1.5).dtype == pg.float32
    assert pg.tensor([1, 2]).dtype == pg.int64
    assert pg.tensor([[1.0, 2.0]]).dtype == pg.float32
    assert pg.tensor(np.float64(1.5)).dtype == pg.float64
    assert pg.tensor(np.ones(2)).dtype == pg.float64
    assert pg.tensor(np.ones(2, dtype=np.float32)).dtype == pg.float32
    assert pg.tensor(np.arange(3)).dtype == pg.int64
    assert pg.tensor(np.arange(3, dtype=np.int32)).dtype == pg.int32
    assert pg.tensor(np.array([True, False])).dtype == pg.bool_
    assert pg.tensor([1.0], dtype="float64").dtype == pg.float64


def test_python_scalars_keep_the_tensor_dtype() -> None:
    a = pg.tensor([1.0, 2.0])
    b = pg.tensor(np.array([1.0, 2.0]))
    assert (a + 1.5).dtype == pg.float32 and (a * 2).dtype == pg.float32
    assert (b + 1.5).dtype == pg.float64 and (2 * b).dtype == pg.float64


def test_float32_meets_float64() -> None:
    av = np.array([1.5, -2.0], dtype=np.float32)
    bv = np.array([0.1, 3.0])
    a = pg.tensor(av, requires_grad=True)
    b = pg.tensor(bv, requires_grad=True)
    c = a * b
    assert c.dtype == pg.float64
    close(c, av.astype(np.float64) * bv)
    c.sum().backward()
    assert a.grad.dtype == pg.float32 and b.grad.dtype == pg.float64
    close(a.grad, bv, pg.float32)
    close(b.grad, av.astype(np.float64))


@pytest.mark.parametrize(("expr", "expected", "dtype"), [
    (lambda a: a * np.float64(2.0), [3.0, -4.0], pg.float32),  # weak, as in PyTorch
    (lambda a: a + np.float32(2.0), [3.5, 0.0], pg.float32),
    (lambda a: a * np.int64(2), [3.0, -4.0], pg.float32),
    (lambda a: a * np.array(2.0), [3.0, -4.0], pg.float32),  # a 0-d array: the tensor with dims wins
    (lambda a: a * np.array([2.0, 2.0]), [3.0, -4.0], pg.float64),
])
def test_numpy_scalar_operands(expr: Callable, expected: list[float], dtype: Any) -> None:
    a = pg.tensor([1.5, -2.0])
    out = expr(a)
    assert out.dtype == dtype
    close(out, expected)


def test_bool_in_arithmetic() -> None:
    b = pg.tensor([True, False, True])
    assert not b.requires_grad
    bb = b + b  # PyTorch's rule: logical or
    assert bb.dtype == pg.bool_
    np.testing.assert_array_equal(bb.numpy(), [True, False, True])
    f = pg.tensor(np.array([1.5, 2.5, 3.5]), requires_grad=True)
    y = b * f
    assert y.dtype == pg.float64
    np.testing.assert_array_equal(y.numpy(), [1.5, 0.0, 3.5])
    y.sum().backward()
    np.testing.assert_array_equal(f.grad.numpy(), [1.0, 0.0, 1.0])
    z = b * 2.5
    assert z.dtype == pg.float32
    np.testing.assert_array_equal(z.numpy(), [2.5, 0.0, 2.5])


# ---------------------------------------------------------------------------
# operators with Python scalars and numpy arrays on either side
# ---------------------------------------------------------------------------

TV = np.array([0.5, 1.0, 2.0])       # the tensor's values (exact in float32)
AV = np.array([1.5, 2.5, 3.5])       # a float64 numpy operand
A2 = np.array([[1.0, -1.0, 2.0], [0.5, 3.0, -2.0]])
LN2 = math.log(2.0)


@dataclass(frozen=True)
class OpCase:
    id: str
    run: Callable[[pg.Tensor], pg.Tensor]
    value: np.ndarray
    grad: Callable[[np.ndarray], np.ndarray]   # upstream g -> expected t.grad
    dtype: Any = pg.float32
    bug: str | None = None


def _elementwise(local: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda g: local * g


OP_CASES = [
    OpCase("t+2", lambda t: t + 2.0, TV + 2.0, _elementwise(np.ones(3))),
    OpCase("2+t", lambda t: 2.0 + t, TV + 2.0, _elementwise(np.ones(3))),
    OpCase("t-2", lambda t: t - 2.0, TV - 2.0, _elementwise(np.ones(3))),
    OpCase("2-t", lambda t: 2.0 - t, 2.0 - TV, _elementwise(-np.ones(3))),
    OpCase("t*3", lambda t: t * 3.0, TV * 3.0, _elementwise(np.full(3, 3.0))),
    OpCase("3*t", lambda t: 3.0 * t, TV * 3.0, _elementwise(np.full(3, 3.0))),
    OpCase("t/4", lambda t: t / 4.0, TV / 4.0, _elementwise(np.full(3, 0.25))),
    OpCase("3/t", lambda t: 3.0 / t, 3.0 / TV, _elementwise(-3.0 / TV**2)),
    OpCase("2**t", lambda t: 2.0**t, 2.0**TV, _elementwise(2.0**TV * LN2)),
    OpCase("t**2", lambda t: t**2, TV**2, _elementwise(2.0 * TV)),
    OpCase("t**0.5", lambda t: t**0.5, np.sqrt(TV), _elementwise(0.5 / np.sqrt(TV))),
    OpCase("t**-1", lambda t: t**-1, 1.0 / TV, _elementwise(-1.0 / TV**2)),
    OpCase("-t", lambda t: -t, -TV, _elementwise(-np.ones(3))),
    OpCase("arr+t", lambda t: AV + t, AV + TV, _elementwise(np.ones(3)), pg.float64),
    OpCase("t+arr", lambda t: t + AV, AV + TV, _elementwise(np.ones(3)), pg.float64),
    OpCase("arr-t", lambda t: AV - t, AV - TV, _elementwise(-np.ones(3)), pg.float64),
    OpCase("t-arr", lambda t: t - AV, TV - AV, _elementwise(np.ones(3)), pg.float64),
    OpCase("arr*t", lambda t: AV * t, AV * TV, _elementwise(AV), pg.float64),
    OpCase("t*arr", lambda t: t * AV, AV * TV, _elementwise(AV), pg.float64),
    OpCase("arr/t", lambda t: AV / t, AV / TV, _elementwise(-AV / TV**2), pg.float64),
    OpCase("t/arr", lambda t: t / AV, TV / AV, _elementwise(1.0 / AV), pg.float64),
    OpCase("arr**t", lambda t: AV**t, AV**TV, _elementwise(AV**TV * np.log(AV)), pg.float64),
    OpCase("t**arr", lambda t: t**AV, TV**AV, _elementwise(AV * TV ** (AV - 1.0)), pg.float64),
    OpCase("t@arr", lambda t: t @ AV, np.float64(TV @ AV), lambda g: AV * g, pg.float64),
    OpCase("arr@t", lambda t: A2 @ t, A2 @ TV, lambda g: A2.T @ g, pg.float64),
    OpCase("maximum(t,1.2)", lambda t: pg.maximum(t, 1.2), np.maximum(TV, 1.2),
           _elementwise((TV > 1.2).astype(float))),
    OpCase("minimum(t,1.2)", lambda t: pg.minimum(t, 1.2), np.minimum(TV, 1.2),
           _elementwise((TV < 1.2).astype(float))),
    OpCase("where(t>0.7,t,0)", lambda t: pg.where(t > 0.7, t, 0.0), np.where(TV > 0.7, TV, 0.0),
           _elementwise((TV > 0.7).astype(float))),
    OpCase("where(t>0.7,t,zeros)", lambda t: pg.where(t > 0.7, t, pg.zeros(3)), np.where(TV > 0.7, TV, 0.0),
           _elementwise((TV > 0.7).astype(float))),
    OpCase("pg.sub(2,t)", lambda t: pg.sub(2.0, t), 2.0 - TV, _elementwise(-np.ones(3))),
    OpCase("pg.div(2,t)", lambda t: pg.div(2.0, t), 2.0 / TV, _elementwise(-2.0 / TV**2)),
]


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=c.bug, strict=True)] if c.bug else [])
    for c in OP_CASES
])
def test_operator_value_dtype_and_gradient(case: OpCase, rng: np.random.Generator) -> None:
    t = pg.tensor(TV, dtype=pg.float32, requires_grad=True)
    out = case.run(t)
    assert isinstance(out, pg.Tensor)
    assert out.dtype == case.dtype
    assert out.shape == np.shape(case.value)
    close(out, case.value)
    g = rng.standard_normal(np.shape(case.value))
    out.backward(pg.tensor(np.asarray(g, dtype=case.dtype)))
    assert t.grad.dtype == pg.float32 and t.grad.shape == (3,)
    g_used = np.asarray(g, dtype=case.dtype).astype(np.float64)
    close(t.grad, case.grad(g_used), pg.float32)


# ---------------------------------------------------------------------------
# a million-op chain
# ---------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


def _release_freed_heap() -> None:
    """Collect garbage and ask glibc to hand freed heap pages back to the OS, so
    that RSS measures what is still allocated rather than what malloc keeps."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="RSS is read from /proc/self/status")
def test_million_op_chain_backprops_and_frees_its_memory() -> None:
    n = 1_000_000
    c = 1.0000001
    _release_freed_heap()
    nodes_before = pg.live_objects()["nodes"]
    rss_before = _rss_bytes()

    x = pg.tensor(np.float64(1.0), requires_grad=True)
    y = x
    for _ in range(n):
        y = y * c
    assert pg.live_objects()["nodes"] == nodes_before + n
    close(y, c**n, pg.float32)  # forward rounding: n roundings of about 1e-16 each
    y.backward()
    np.testing.assert_allclose(x.grad.item(), c**n, rtol=1e-9)
    assert x.grad.dtype == pg.float64

    del y
    _release_freed_heap()
    assert pg.live_objects()["nodes"] == nodes_before
    growth = _rss_bytes() - rss_before
    assert growth < 100 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB after the chain was freed"


def test_long_chain_of_additions_backprops() -> None:
    x = pg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x
    for _ in range(200_000):
        y = y + 0.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


# ---------------------------------------------------------------------------
# threads
# ---------------------------------------------------------------------------


def _small_graph(a: np.ndarray, b: np.ndarray, reps: int) -> list[tuple[float, np.ndarray, np.ndarray]]:
    out = []
    for _ in range(reps):
        ta = pg.tensor(a, requires_grad=True)
        tb = pg.tensor(b, requires_grad=True)
        loss = (ta @ tb).tanh().sum()
        loss.backward()
        out.append((loss.item(), ta.grad.numpy().copy(), tb.grad.numpy().copy()))
    return out


def test_threads_build_and_backprop_independent_graphs(rng: np.random.Generator) -> None:
    data = [(rng.standard_normal((6, 5)), rng.standard_normal((5, 4))) for _ in range(4)]
    expected = [_small_graph(a, b, 50) for a, b in data]

    # the single-threaded results are right: d/dA sum(tanh(AB)) = (1 - tanh^2(AB)) B^T
    a, b = data[0]
    s = 1.0 - np.tanh(a @ b) ** 2
    np.testing.assert_allclose(expected[0][0][0], np.tanh(a @ b).sum(), **F64)
    np.testing.assert_allclose(expected[0][0][1], s @ b.T, **F64)
    np.testing.assert_allclose(expected[0][0][2], a.T @ s, **F64)

    results: list[Any] = [None] * 4
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(i: int) -> None:
        try:
            start.wait(timeout=30)
            results[i] = _small_graph(*data[i], 50)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors, errors
    for i in range(4):
        assert len(results[i]) == 50
        for (l1, ga1, gb1), (l2, ga2, gb2) in zip(expected[i], results[i]):
            assert l1 == l2
            np.testing.assert_array_equal(ga1, ga2)
            np.testing.assert_array_equal(gb1, gb2)
