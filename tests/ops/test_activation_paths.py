"""The activations that take kern_vmath's vector functions in chunks (silu, logsigmoid, softplus, elu) and
the ones written as selects (leaky_relu, hardsigmoid), on vectors longer than a chunk: values and
gradients against the reference engine (the formulas in float64 numpy) across magnitudes and the special
values (±0, ±inf, NaN, the tails where log1p and expm1 would lose digits), and against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref

OPS = [("silu", lambda t: t.silu()), ("logsigmoid", lambda t: t.logsigmoid()), ("softplus", lambda t: t.softplus()),
       ("elu", lambda t: t.elu(1.5)), ("leaky_relu", lambda t: t.leaky_relu(0.1)),
       ("hardsigmoid", lambda t: t.hardsigmoid())]


def _inputs(dtype) -> np.ndarray:
    rng = np.random.default_rng(0)
    mags = 10.0 ** rng.uniform(-30 if dtype == "float32" else -200, 2.5, 700)
    x = np.concatenate([mags * rng.choice([-1, 1], 700), rng.standard_normal(300) * 5,
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 20.0, 20.5, 19.9, -20.0, -88.0, 88.0, 3.0, -3.0,
                         1e-8, -1e-8, 1e-30, -1e-30, 700.0, -700.0]])
    return rng.permutation(x).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,f", OPS, ids=[n for n, _ in OPS])
def test_values_and_gradients_against_the_reference(dtype, name, f) -> None:
    x = _inputs(dtype)
    g = np.random.default_rng(1).standard_normal(x.size).astype(dtype)
    rtol = 8e-6 if dtype == "float32" else 1e-13
    out = []
    for m in (pygrad, ref):
        t = m.tensor(x, requires_grad=True)
        with np.errstate(all="ignore"):
            y = f(t)
            y.backward(m.tensor(g))
        out.append((y.numpy(), t.grad.numpy()))
    (yc, gc), (yr, gr) = out
    tiny = np.finfo(dtype).tiny
    np.testing.assert_allclose(yc, yr, rtol=rtol, atol=tiny, err_msg=name)
    np.testing.assert_allclose(gc, gr, rtol=rtol, atol=tiny, err_msg=name)
    zero = yc == 0
    assert np.array_equal(np.isnan(yc), np.isnan(yr)) and np.array_equal(np.signbit(yc[zero]), np.signbit(yr[zero]))


@pytest.mark.parametrize("name,f", OPS, ids=[n for n, _ in OPS])
def test_against_torch(name, f) -> None:
    torch = pytest.importorskip("torch")
    x = _inputs("float32")
    tf = {"silu": torch.nn.functional.silu, "logsigmoid": torch.nn.functional.logsigmoid,
          "softplus": torch.nn.functional.softplus, "elu": lambda t: torch.nn.functional.elu(t, 1.5),
          "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.1),
          "hardsigmoid": torch.nn.functional.hardsigmoid}[name]
    t = torch.tensor(x, requires_grad=True)
    tf(t).sum().backward()
    p = pygrad.tensor(x, requires_grad=True)
    f(p).sum().backward()
    np.testing.assert_allclose(f(pygrad.tensor(x)).numpy(), tf(torch.tensor(x)).numpy(), rtol=2e-5, atol=1e-37)
    ok = np.isfinite(x)
    np.testing.assert_allclose(p.grad.numpy()[ok], t.grad.numpy()[ok], rtol=2e-5, atol=1e-37)
