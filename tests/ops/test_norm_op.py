"""The norm op (Tensor.norm and pygrad.norm with p = 2 or 'fro'): one pass, the sum of squares in
float64, so a float32 norm neither overflows nor underflows and a float64 one is taken again scaled
where its squares leave the range; PyTorch's values and gradient (0 at a zero norm); the same bits on
1 and 2 threads; a recorded step under pygrad.compile."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.reference

ENGINES = {"c": pygrad, "reference": pygrad.reference}


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


def _upstream(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


def _norm_and_grad(m: Any, a: np.ndarray, dim: Any = None, keepdim: bool = False, p: Any = 2) -> tuple[Any, Any]:
    x = m.tensor(a, requires_grad=True)
    y = x.norm(p, dim, keepdim)
    (y * m.tensor(_upstream(y.shape, a.dtype))).sum().backward()
    return y.numpy(), x.grad.numpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("shape", "dim", "keepdim", "p"), [
    ((3, 4), None, False, 2), ((3, 4), 1, False, "fro"), ((3, 4), 0, True, 2.0), ((2, 3, 5), (0, 2), False, 2),
    ((2, 3, 5), -1, True, "fro"), ((7,), 0, False, 2), ((), None, False, 2), ((0, 3), 0, False, 2),
    ((4, 0), 1, True, 2),
])
def test_against_torch(m: Any, shape: Any, dim: Any, keepdim: bool, p: Any, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    y, gx = _norm_and_grad(m, a, dim, keepdim, p)
    tx = torch.tensor(a, requires_grad=True)
    ty = tx.norm(p, dim, keepdim) if dim is not None else tx.norm(p)
    assert y.shape == tuple(ty.shape) and y.dtype == a.dtype
    (ty * torch.tensor(_upstream(y.shape, a.dtype))).sum().backward()
    tol = 2e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tol, atol=0)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=tol, atol=tol)


def test_special_values(m: Any) -> None:
    for dtype in ("float32", "float64"):
        y, g = _norm_and_grad(m, np.array([0.0, 0.0, -0.0], dtype=dtype))
        assert y == 0 and g.tolist() == [0.0, 0.0, 0.0]  # the gradient at 0 is 0
        x = m.tensor(np.array([[np.inf, 1.0], [np.nan, 1.0], [3.0, 4.0]], dtype=dtype), requires_grad=True)
        y = x.norm(dim=1)
        assert y.numpy()[0] == np.inf and np.isnan(y.numpy()[1]) and y.numpy()[2] == 5.0
        y.sum().backward()
        gx = x.grad.numpy()
        assert np.isnan(gx[0, 0]) and gx[0, 1] == 0.0  # inf / inf, 1 / inf: PyTorch's
        assert np.isnan(gx[1]).all()
        np.testing.assert_allclose(gx[2], [0.6, 0.8], rtol=1e-7)
        x = m.tensor(np.array([-np.inf, -np.inf], dtype=dtype))
        assert x.norm().item() == np.inf


@pytest.mark.parametrize(("dtype", "value", "count"), [
    ("float32", 1e30, 2), ("float32", 1e38, 3), ("float32", 1e-30, 4), ("float32", 1e-45, 5),
    ("float64", 1e200, 2), ("float64", 1e300, 7), ("float64", 1e-200, 4), ("float64", 1e-320, 3),
    ("float64", 5e-324, 9),
])
def test_huge_and_tiny_values_neither_overflow_nor_underflow(m: Any, dtype: str, value: float, count: int) -> None:
    a = np.full(count, value, dtype=dtype)
    a[1::2] *= -1
    exact = float(abs(a[0])) * math.sqrt(count)  # the elements' exact value, times √count
    y, g = _norm_and_grad(m, a)
    rel, ulp = 4 * float(np.finfo(dtype).eps), float(np.finfo(dtype).smallest_subnormal)
    assert y.item() == pytest.approx(exact, rel=rel, abs=ulp) and np.isfinite(y)
    # the gradient g x / ‖x‖ = ±g/√count: finite (g / ‖x‖ overflows for the smallest, x / ‖x‖ does not),
    # and as exact as the subnormals' few bits allow
    g0 = float(_upstream((), dtype))
    rtol = 1e-6 if abs(a[0]) >= np.finfo(dtype).tiny else 0.3
    np.testing.assert_allclose(g, g0 * np.sign(a) / math.sqrt(count), rtol=rtol)
    # as one row among normal rows: each row taken alone
    rows = np.stack([a, np.arange(1, count + 1, dtype=dtype)])
    x = m.tensor(rows)
    r = x.norm(dim=1).numpy()
    assert r[0] == pytest.approx(exact, rel=rel, abs=ulp)
    assert r[1] == pytest.approx(math.sqrt(sum(k * k for k in range(1, count + 1))), rel=1e-6)


def test_float32_norm_of_many_elements_is_accurate() -> None:
    a = (np.random.default_rng(2).standard_normal(1 << 22) * 3).astype(np.float32)
    exact = math.sqrt(math.fsum(float(v) * float(v) for v in a[:1 << 16]) + math.fsum(
        (a[1 << 16:].astype(np.float64) ** 2).tolist()))
    got = pygrad.tensor(a).norm().item()
    assert abs(got - exact) <= np.spacing(np.float32(exact))


def test_the_current_api_records_one_op(m: Any) -> None:
    x = m.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    for y in (x.norm(), x.norm(dim=1), m.norm(x, "fro", (0, 1), keepdim=True), x.norm(2.0, 0)):
        assert y.grad_fn.name == "norm"
    assert x.norm(1).grad_fn.name != "norm"  # other orders as before


def test_clip_grad_norm_normalize_and_cosine_similarity_use_it(m: Any) -> None:
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(3).standard_normal((4, 5)) * 10
    w = m.tensor(a, requires_grad=True)
    (w * w).sum().backward()
    total = m.nn.utils.clip_grad_norm_([w], 1.0)
    tw = torch.tensor(a, requires_grad=True)
    (tw * tw).sum().backward()
    ttotal = torch.nn.utils.clip_grad_norm_([tw], 1.0)
    assert float(total) == pytest.approx(float(ttotal), rel=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)
    F, TF = m.nn.functional, torch.nn.functional
    np.testing.assert_allclose(F.normalize(m.tensor(a)).numpy(), TF.normalize(torch.tensor(a)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(F.cosine_similarity(m.tensor(a), m.tensor(a[::-1].copy())).numpy(),
                               TF.cosine_similarity(torch.tensor(a), torch.tensor(a[::-1].copy())).numpy(),
                               rtol=1e-12)


def test_float64_gradcheck_and_double_backward() -> None:
    from pygrad.gradcheck import gradcheck, gradgradcheck

    rng = np.random.default_rng(4)
    x = pygrad.tensor(rng.standard_normal((3, 5)), dtype="float64", requires_grad=True)
    g = pygrad.tensor(rng.standard_normal(3), dtype="float64")
    assert gradcheck(lambda t: (t.norm(dim=1) * g).sum(), (x,))
    assert gradcheck(lambda t: t.norm(), (x,))
    assert gradgradcheck(lambda t: t.norm(dim=0, keepdim=True).sum(), (x,))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_same_bits_on_one_and_two_threads(dtype: str) -> None:
    a = (np.random.default_rng(5).standard_normal((700, 1000)) * 2).astype(dtype)
    runs = []
    old = pygrad.get_num_threads()
    try:
        for threads in (1, 2):
            pygrad.set_num_threads(threads)
            for dim in (None, 1, 0, (0, 1)):
                runs.append(_norm_and_grad(pygrad, a, dim))
    finally:
        pygrad.set_num_threads(old)
    for one, two in zip(runs[:4], runs[4:], strict=True):
        for u, v in zip(one, two, strict=True):
            np.testing.assert_array_equal(u, v)
    for dim, got in zip((None, 1, 0), runs, strict=False):
        want = _norm_and_grad(pygrad.reference, a, dim)
        for u, v in zip(got, want, strict=True):
            np.testing.assert_allclose(u, v, rtol=1e-6 if dtype == "float32" else 1e-13)


def test_a_compiled_step_records_it() -> None:
    rng = np.random.default_rng(6)

    def step(x, w):
        x.grad = None
        h = x * w
        loss = h.norm() + h.norm(dim=1).sum() * 0.5
        loss.backward()
        return loss, x.grad

    f = pygrad.compile(step, fullgraph=True)
    for _ in range(4):
        args = [pygrad.tensor(rng.standard_normal((64, 300)), dtype="float32", requires_grad=True),
                pygrad.tensor(rng.uniform(0.5, 2, 300), dtype="float32")]
        eager = [v.numpy().copy() for v in step(*args)]
        got = [v.numpy().copy() for v in f(*args)]
        for u, v in zip(got, eager, strict=True):
            np.testing.assert_array_equal(u, v)
    assert f.records == 1 and "norm" in f.program
