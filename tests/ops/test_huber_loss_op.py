"""The huber_loss op (nn.functional.huber_loss, smooth_l1_loss and their modules): PyTorch's values and
gradients, special values and the boundary |d| = δ, the reductions (one pass, summed in float64), the
dtypes the functions meet in, the same bits on 1 and 2 threads, a recorded step under pygrad.compile."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference

ENGINES = {"c": pygrad, "reference": pygrad.reference}
NAN, INF = float("nan"), float("inf")
# d = x - t: NaN, ±inf, both sides of δ and β (1, 0.5), exactly on them, 0 and -0
X_SPECIAL = [NAN, 1.0, -1.0, 0.0, -0.0, 2.0, -2.0, INF, -INF, 0.5, -0.5, 0.25, 1.5, 3.0, INF, 0.75, 1.0]
T_SPECIAL = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 2.0, INF, 0.25, 2.0]
CALLS = {  # keywords: PyTorch's smooth_l1_loss takes the legacy size_average third
    "huber": lambda F, x, t, r: F.huber_loss(x, t, reduction=r),
    "huber-delta": lambda F, x, t, r: F.huber_loss(x, t, reduction=r, delta=0.5),
    "smooth_l1": lambda F, x, t, r: F.smooth_l1_loss(x, t, reduction=r),
    "smooth_l1-beta": lambda F, x, t, r: F.smooth_l1_loss(x, t, reduction=r, beta=0.5),
    "smooth_l1-l1": lambda F, x, t, r: F.smooth_l1_loss(x, t, reduction=r, beta=0.0),
}


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


def _grads(lib: Any, fn: Any, xv: Any, tv: Any, dtype: str, reduction: str, g: Any) -> list[np.ndarray]:
    """value, dx, dt of fn on engine (or torch) lib, with upstream g."""
    if hasattr(lib, "nn") and hasattr(lib.nn, "functional") and lib.__name__ == "torch":
        x = lib.tensor(xv, dtype=getattr(lib, dtype), requires_grad=True)
        t = lib.tensor(tv, dtype=getattr(lib, dtype), requires_grad=True)
        y = fn(lib.nn.functional, x, t, reduction)
        y.backward(lib.tensor(g, dtype=x.dtype))
        return [y.detach().numpy(), x.grad.numpy(), t.grad.numpy()]
    x = lib.tensor(np.array(xv), dtype=dtype, requires_grad=True)
    t = lib.tensor(np.array(tv), dtype=dtype, requires_grad=True)
    y = fn(lib.nn.functional, x, t, reduction)
    y.backward(lib.tensor(np.asarray(g), dtype=dtype))
    return [y.numpy(), x.grad.numpy(), t.grad.numpy()]


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_special_values_against_torch(m: Any, call: str, dtype: str, reduction: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    g = rng.standard_normal(len(X_SPECIAL)) if reduction == "none" else np.float64(1.25)
    want = _grads(torch, CALLS[call], X_SPECIAL, T_SPECIAL, dtype, reduction, g)
    got = _grads(m, CALLS[call], X_SPECIAL, T_SPECIAL, dtype, reduction, g)
    for u, v in zip(got, want, strict=True):
        np.testing.assert_allclose(u, v, rtol=2e-7 if dtype == "float32" else 1e-15, atol=0)
        np.testing.assert_array_equal(np.isnan(u), np.isnan(v))
    # without the NaNs and infinities: the reductions against PyTorch too
    ok = [i for i, (a, b) in enumerate(zip(X_SPECIAL, T_SPECIAL)) if math.isfinite(a) and math.isfinite(b)]
    xs, ts = [X_SPECIAL[i] for i in ok], [T_SPECIAL[i] for i in ok]
    g = g[ok] if reduction == "none" else g
    want = _grads(torch, CALLS[call], xs, ts, dtype, reduction, g)
    got = _grads(m, CALLS[call], xs, ts, dtype, reduction, g)
    for u, v in zip(got, want, strict=True):
        np.testing.assert_allclose(u, v, rtol=2e-7 if dtype == "float32" else 1e-15, atol=0)


def test_the_boundary_is_pytorchs(m: Any) -> None:
    F = m.nn.functional
    for delta in (1.0, 0.5, 2.0):
        x = m.tensor([delta, -delta, delta / 2], dtype="float64", requires_grad=True)
        y = F.huber_loss(x, m.zeros(3, dtype="float64"), "none", delta)
        assert y.tolist() == [0.5 * delta * delta, 0.5 * delta * delta, 0.125 * delta * delta]
        y.sum().backward()
        assert x.grad.tolist() == [delta, -delta, delta / 2]
        x.grad = None
        s = F.smooth_l1_loss(x, m.zeros(3, dtype="float64"), "none", delta)
        assert s.tolist() == [0.5 * delta, 0.5 * delta, 0.125 * delta]
        s.sum().backward()
        assert x.grad.tolist() == [1.0, -1.0, 0.5]


def test_one_op_with_its_reduction(m: Any) -> None:
    F = m.nn.functional
    x, t = m.tensor([[0.5, 3.0]], requires_grad=True), m.tensor([[0.0, 1.0]])
    for fn in (F.huber_loss, F.smooth_l1_loss, lambda a, b, r: F.smooth_l1_loss(a, b, r, beta=0.0)):
        for r in ("mean", "sum", "none"):
            y = fn(x, t, r)
            assert y.grad_fn.name == "huber_loss"
            assert y.shape == ((1, 2) if r == "none" else ())
    assert m.nn.HuberLoss(delta=2.0)(x, t).item() == pytest.approx((0.125 + 2.0) / 2)
    assert m.nn.SmoothL1Loss(beta=0.5)(x, t).item() == pytest.approx((0.25 + 1.75) / 2)
    # the op itself accepts an empty input (the functions refuse it): none is empty, sum 0, mean NaN
    e = m.zeros(0, 3)
    assert e._huber_loss(e, "none").shape == (0, 3)
    assert e._huber_loss(e, "sum").item() == 0.0
    assert math.isnan(e._huber_loss(e, "mean", 0.5, True).item())


def test_the_dtypes_the_functions_meet_in(m: Any) -> None:
    F = m.nn.functional
    pairs = [(m.tensor([1.0, 2.5]), m.tensor([0.0, 1.0], dtype="float64"), m.float64),
             (m.tensor([1, 2]), m.tensor([0, 5]), m.float32),
             (m.tensor([1.0, 2.0]), m.tensor([0, 5]), m.float32),
             (m.tensor([1, 2]), m.tensor([0.0, 5.0]), m.float32),
             (m.tensor([1.0, 2.0], dtype="float64"), m.tensor([0.0, 5.0]), m.float64),
             (m.tensor([True, False]), m.tensor([0.0, 5.0]), m.float32),
             (m.tensor([1.0, 2.0]), [0.0, 5.0], m.float32)]
    for x, t, dt in pairs:
        for fn in (F.huber_loss, F.smooth_l1_loss):
            y = fn(x, t)
            assert y.dtype == dt
            tv = np.asarray(t.numpy() if hasattr(t, "numpy") else t, dtype=np.float64)
            d = np.abs(x.numpy().astype(np.float64) - tv)
            want = np.where(d < 1, 0.5 * d * d, d - 0.5).mean()
            assert y.item() == pytest.approx(want)
    # a float32 input meeting a float64 target gets a float32 gradient
    x = m.tensor([1.0, 2.5], requires_grad=True)
    F.huber_loss(x, m.tensor([0.0, 1.0], dtype="float64")).backward()
    assert x.grad.dtype == m.float32 and x.grad.tolist() == [0.5, 0.5]


def test_weight_keeps_its_mean(m: Any) -> None:
    F = m.nn.functional
    x = m.tensor([[0.5, 3.0], [-1.0, 0.25]], dtype="float64", requires_grad=True)
    w = m.tensor([[1.0, 2.0], [0.5, 4.0]], dtype="float64", requires_grad=True)
    t = m.zeros(2, 2, dtype="float64")
    y = F.huber_loss(x, t, weight=w)
    per = np.array([[0.125, 2.5], [0.5, 0.03125]])
    assert y.item() == pytest.approx((per * w.numpy()).mean())
    y.backward()
    np.testing.assert_allclose(w.grad.numpy(), per / 4)
    np.testing.assert_allclose(x.grad.numpy(), np.clip(x.numpy(), -1, 1) * w.numpy() / 4)


def test_float32_mean_of_many_elements_is_accurate() -> None:
    rng = np.random.default_rng(3)
    n = 1 << 22
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    t = (rng.standard_normal(n) * 3).astype(np.float32)
    d = np.abs(x.astype(np.float64) - t.astype(np.float64))
    for fn, exact in ((pygrad.nn.functional.huber_loss, np.where(d < 1, 0.5 * d * d, d - 0.5)),
                      (lambda a, b: pygrad.nn.functional.smooth_l1_loss(a, b, beta=0.0), d)):
        got = fn(pygrad.tensor(x), pygrad.tensor(t)).item()
        want = math.fsum(exact) / n
        assert abs(got - want) <= 2 * np.spacing(np.float32(want))  # the float32 losses' rounding, once each


def test_float64_gradcheck() -> None:
    from pygrad.gradcheck import gradcheck

    rng = np.random.default_rng(4)
    x = pygrad.tensor(rng.uniform(-3, 3, 30), dtype="float64", requires_grad=True)
    t = pygrad.tensor(rng.uniform(-3, 3, 30), dtype="float64", requires_grad=True)
    g = pygrad.tensor(rng.standard_normal(30), dtype="float64")
    F = pygrad.nn.functional
    assert gradcheck(lambda a, b: F.huber_loss(a, b, delta=0.7), (x, t))
    assert gradcheck(lambda a, b: (F.huber_loss(a, b, "none", delta=1.3) * g).sum(), (x, t))
    assert gradcheck(lambda a, b: F.smooth_l1_loss(a, b, "sum", beta=0.4), (x, t))
    assert gradcheck(lambda a, b: F.smooth_l1_loss(a, b, beta=0.0), (x, t))  # |d| > 0 everywhere here


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_same_bits_on_one_and_two_threads(dtype: str, reduction: str) -> None:
    rng = np.random.default_rng(5)
    n = 300_007
    a, b = (rng.standard_normal(n) * 2).astype(dtype), (rng.standard_normal(n) * 2).astype(dtype)
    g = rng.standard_normal(n if reduction == "none" else ()).astype(dtype)
    runs = []
    old = pygrad.get_num_threads()
    try:
        for threads in (1, 2):
            pygrad.set_num_threads(threads)
            for call in ("huber-delta", "smooth_l1-beta", "smooth_l1-l1"):
                runs.append(_grads(pygrad, CALLS[call], a, b, dtype, reduction, g))
    finally:
        pygrad.set_num_threads(old)
    for one, two in zip(runs[:3], runs[3:], strict=True):
        for u, v in zip(one, two, strict=True):
            np.testing.assert_array_equal(u, v)
    ref = _grads(pygrad.reference, CALLS["huber-delta"], a, b, dtype, reduction, g)
    for u, v in zip(runs[0], ref, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-6 if dtype == "float32" else 1e-13)


def test_a_compiled_step_records_it() -> None:
    rng = np.random.default_rng(6)
    F = pygrad.nn.functional

    def step(x, w, t):
        x.grad = None
        h = x * w
        loss = F.huber_loss(h, t, delta=0.5) + F.smooth_l1_loss(h, t, "sum", beta=0.25) * 0.01
        loss.backward()
        return loss, x.grad

    f = pygrad.compile(step, fullgraph=True)
    for _ in range(4):
        args = [pygrad.tensor(rng.standard_normal(5000), dtype="float32", requires_grad=True),
                pygrad.tensor(rng.uniform(0.5, 2, 5000), dtype="float32"),
                pygrad.tensor(rng.standard_normal(5000), dtype="float32")]
        eager = [v.numpy().copy() for v in step(*args)]
        got = [v.numpy().copy() for v in f(*args)]
        for u, v in zip(got, eager, strict=True):
            np.testing.assert_array_equal(u, v)
    assert f.records == 1 and "huber_loss" in f.program
