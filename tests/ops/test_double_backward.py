"""Double backward on both engines, for every op-table case.

For each case of pygrad/_opcases.py, in float64, with L(x) = sum(f(x) * dout):
- the gradient from backward(create_graph=True) (each op's backward rule made
  of differentiable ops) equals the one from the numeric backward kernels;
- differentiating it again along a random direction v gives the Hessian-vector
  product H v, which must match the centered difference of first derivatives
  (∇L(x + εv) − ∇L(x − εv)) / 2ε.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad._opcases import CASES, make_inputs

ENGINES = {"c": pygrad, "ref": ref}
EPS = 1e-5


def _grads(m, case, arrays, dout, create_graph=False):
    xs = [m.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    out = case.fn(m, *xs)
    loss = (out * m.tensor(dout, dtype=out.dtype)).sum()
    loss.backward(create_graph=create_graph)
    return xs, [x.grad for x in xs]


def _numeric(grads):
    return [None if g is None else g.numpy().astype(np.float64) for g in grads]


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule_matches_kernel_and_hvp_matches_finite_differences(case, engine) -> None:
    m = ENGINES[engine]
    seed = zlib.crc32(case.id.encode())
    arrays = make_inputs(case, "float64", seed)
    rng = np.random.default_rng(seed + 1)
    with m.no_grad():
        out_shape = case.fn(m, *[m.tensor(a, dtype="float64") for a in arrays]).shape
    dout = rng.standard_normal(out_shape)
    vs = [rng.standard_normal(a.shape) for a in arrays]
    low_precision = case.op == "cast"  # goes through float32
    tol = 2e-3 if low_precision else 1e-6

    # first order: rules (create_graph) == numeric kernels
    _, plain = _grads(m, case, arrays, dout)
    xs, g1 = _grads(m, case, arrays, dout, create_graph=True)
    for a, b in zip(_numeric(plain), _numeric(g1)):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)

    # second order: H v by double backward
    terms = [(g * m.tensor(v, dtype=g.dtype)).sum() for g, v in zip(g1, vs) if g is not None and g.requires_grad]
    for x in xs:
        x.grad = None
    if terms:
        s = terms[0]
        for t in terms[1:]:
            s = s + t
        s.backward()
    hv = [np.zeros(a.shape) if x.grad is None else x.grad.numpy().astype(np.float64) for x, a in zip(xs, arrays)]

    # ... and by centered differences of first derivatives along v
    eps = 1e-3 if low_precision else EPS
    _, gp = _grads(m, case, [a + eps * v for a, v in zip(arrays, vs)], dout)
    _, gm = _grads(m, case, [a - eps * v for a, v in zip(arrays, vs)], dout)
    for i, (p, q, h) in enumerate(zip(_numeric(gp), _numeric(gm), hv)):
        fd = (p - q) / (2 * eps)
        scale = max(1.0, float(np.max(np.abs(fd), initial=0.0)))
        np.testing.assert_allclose(h, fd, rtol=tol, atol=tol * scale, err_msg=f"{case.id}: H v for input {i}")


@pytest.mark.parametrize("engine", list(ENGINES))
def test_second_derivative_by_hand(engine) -> None:
    """d²/dx² of x³ sin-free polynomial and of tanh, against the closed forms."""
    m = ENGINES[engine]
    x = m.tensor([0.5, -1.5], dtype="float64", requires_grad=True)
    ((x ** 3) * 2.0 + x.tanh()).sum().backward(create_graph=True)
    g = x.grad
    xv = np.array([0.5, -1.5])
    t = np.tanh(xv)
    np.testing.assert_allclose(g.numpy(), 6 * xv**2 + (1 - t**2), rtol=1e-14)
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 12 * xv - 2 * t * (1 - t**2), rtol=1e-13)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_create_graph_retains_the_graph_and_accumulates(engine) -> None:
    m = ENGINES[engine]
    x = m.tensor(2.0, dtype="float64", requires_grad=True)
    y = x * x * x
    y.backward(create_graph=True)  # the graph is retained: a second backward works
    y.backward(create_graph=True)
    assert x.grad.item() == 24.0  # 2 · 3x²
    x.grad.backward()  # d(2·3x²)/dx = 12x = 24, accumulated into the 24 already there
    assert x.grad.item() == 48.0


def test_numpy_gate_refuses_double_backward() -> None:
    import pygrad.gates as G

    class Square(G.Gate):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, dz):
            return 2 * self.x * dz

    x = pygrad.tensor([1.0, 2.0], requires_grad=True)
    y = Square()(x).sum()
    with pytest.raises(RuntimeError, match="Square: a gate whose backward is written with numpy cannot"):
        y.backward(create_graph=True)
