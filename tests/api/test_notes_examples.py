"""The worked examples of the backpropagation lecture notes (../shared/seeds),
every number recomputed here by hand rather than copied from the OCR'd text.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import pygrad as pg

TOL = {pg.float32: {"rtol": 2e-6, "atol": 1e-6}, pg.float64: {"rtol": 1e-12, "atol": 1e-12}}
DTYPES = [pg.float32, pg.float64]


def scalar(v: float, dtype: Any) -> pg.Tensor:
    return pg.tensor(v, dtype=dtype, requires_grad=True)


def close(t: Any, expected: Any, dtype: Any = pg.float64) -> None:
    a = t.numpy() if isinstance(t, pg.Tensor) else np.asarray(t)
    np.testing.assert_allclose(a, expected, **TOL[dtype])


# ---------------------------------------------------------------------------
# f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_chain_rule_on_x_plus_y_times_z(dtype: Any) -> None:
    x, y, z = scalar(-2.0, dtype), scalar(5.0, dtype), scalar(-4.0, dtype)
    q = x + y
    q.retain_grad()
    f = q * z
    assert q.item() == 3.0 and f.item() == -12.0  # small integers: exact
    f.backward()
    # df/dq = z, df/dz = q; dq/dx = dq/dy = 1  =>  df/dx = df/dy = z = -4
    assert q.grad.item() == -4.0
    assert x.grad.item() == -4.0 and y.grad.item() == -4.0
    assert z.grad.item() == 3.0
    assert x.grad.dtype == dtype


# ---------------------------------------------------------------------------
# the 2-d sigmoid neuron: f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2)))
# w = (2, -3, -3), x = (-1, -2)
# ---------------------------------------------------------------------------

W = (2.0, -3.0, -3.0)
X = (-1.0, -2.0)
DOT = W[0] * X[0] + W[1] * X[1] + W[2]          # -2 + 6 - 3 = 1
SIG = 1.0 / (1.0 + math.exp(-DOT))               # sigma(1) = 0.7310585786...
LOCAL = (1.0 - SIG) * SIG                        # sigma'(1) = 0.1966119332...
DW = (X[0] * LOCAL, X[1] * LOCAL, 1.0 * LOCAL)   # (-0.197, -0.393, 0.197)
DX = (W[0] * LOCAL, W[1] * LOCAL)                # (0.393, -0.590)


def test_hand_values_of_the_neuron() -> None:
    assert DOT == 1.0
    assert SIG == pytest.approx(0.7310585786300049, abs=1e-15)
    assert LOCAL == pytest.approx(0.19661193324148185, abs=1e-15)
    # the notes round the upstream gradient to 0.2: x0 gets w0*0.2 = 0.4, w0 gets x0*0.2 = -0.2
    assert DX[0] == pytest.approx(0.4, abs=0.01) and DW[0] == pytest.approx(-0.2, abs=0.01)


def _neuron_inputs(dtype: Any) -> tuple[list[pg.Tensor], list[pg.Tensor]]:
    return [scalar(v, dtype) for v in W], [scalar(v, dtype) for v in X]


def _check_neuron_grads(w: list[pg.Tensor], x: list[pg.Tensor], dtype: Any) -> None:
    for t, g in zip(w + x, DW + DX):
        assert t.grad.dtype == dtype and t.grad.shape == ()
        close(t.grad, g, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_neuron_from_primitive_gates(dtype: Any) -> None:
    w, x = _neuron_inputs(dtype)
    dot = w[0] * x[0] + w[1] * x[1] + w[2]
    neg = dot * -1.0
    e = pg.exp(neg)
    den = e + 1.0
    f = pg.reciprocal(den)
    for t in (dot, neg, e, den):
        t.retain_grad()
    close(f, SIG, dtype)
    f.backward()
    # each gate's upstream gradient, from the last gate back:
    # 1/x: -1/den^2; +1: unchanged; exp: times e^(-dot); *(-1): negated
    d_den = -1.0 / (1.0 + math.exp(-DOT)) ** 2
    close(den.grad, d_den, dtype)
    close(e.grad, d_den, dtype)
    close(neg.grad, d_den * math.exp(-DOT), dtype)
    close(dot.grad, -d_den * math.exp(-DOT), dtype)
    close(dot.grad, LOCAL, dtype)
    _check_neuron_grads(w, x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_neuron_with_the_sigmoid_gate(dtype: Any) -> None:
    w, x = _neuron_inputs(dtype)
    dot = w[0] * x[0] + w[1] * x[1] + w[2]
    dot.retain_grad()
    f = pg.sigmoid(dot)
    close(f, SIG, dtype)
    f.backward()
    close(dot.grad, LOCAL, dtype)  # (1 - sigma) sigma
    _check_neuron_grads(w, x, dtype)


def test_sigmoid_neuron_both_circuits_agree() -> None:
    w1, x1 = _neuron_inputs(pg.float64)
    w2, x2 = _neuron_inputs(pg.float64)
    dot1 = w1[0] * x1[0] + w1[1] * x1[1] + w1[2]
    pg.reciprocal(pg.exp(-dot1) + 1.0).backward()
    dot2 = w2[0] * x2[0] + w2[1] * x2[1] + w2[2]
    pg.sigmoid(dot2).backward()
    for a, b in zip(w1 + x1, w2 + x2):
        np.testing.assert_allclose(a.grad.item(), b.grad.item(), rtol=1e-14, atol=1e-15)


def test_sigmoid_neuron_vectorised() -> None:
    w = pg.tensor(np.array(W), requires_grad=True)
    x = pg.tensor(np.array(X), requires_grad=True)
    f = pg.sigmoid((w[:2] * x).sum() + w[2])
    close(f, SIG)
    f.backward()
    close(w.grad, DW)
    close(x.grad, DX)


# ---------------------------------------------------------------------------
# vectorised: f(x, W) = ||W x||^2
# ---------------------------------------------------------------------------


def test_norm_of_matrix_vector_product() -> None:
    wv = np.array([[0.1, 0.5], [-0.3, 0.8], [1.2, -0.7]])
    xv = np.array([0.2, 0.4])
    W = pg.tensor(wv, requires_grad=True)
    x = pg.tensor(xv, requires_grad=True)
    q = W @ x
    f = (q * q).sum()
    qv = wv @ xv
    close(f, np.sum(qv**2))
    f.backward()
    close(W.grad, 2.0 * np.outer(qv, xv))   # df/dW = 2 q x^T
    close(x.grad, 2.0 * wv.T @ qv)          # df/dx = 2 W^T q
    assert W.grad.shape == (3, 2) and x.grad.shape == (2,)


def test_norm_of_matrix_vector_product_with_pow() -> None:
    rng = np.random.default_rng(7)
    wv = rng.standard_normal((3, 2))
    xv = rng.standard_normal(2)
    W = pg.tensor(wv, requires_grad=True)
    x = pg.tensor(xv, requires_grad=True)
    ((W @ x) ** 2).sum().backward()
    qv = wv @ xv
    close(W.grad, 2.0 * np.outer(qv, xv))
    close(x.grad, 2.0 * wv.T @ qv)


# ---------------------------------------------------------------------------
# patterns in backward flow: add distributes, max routes, mul switches
# ---------------------------------------------------------------------------


def test_add_gate_distributes() -> None:
    x, y = scalar(3.0, pg.float64), scalar(-4.0, pg.float64)
    (x + y).backward(pg.tensor(np.float64(2.5)))
    assert x.grad.item() == 2.5 and y.grad.item() == 2.5


def test_max_gate_routes() -> None:
    z, w = scalar(2.0, pg.float64), scalar(-1.0, pg.float64)
    pg.maximum(z, w).backward(pg.tensor(np.float64(2.5)))
    assert z.grad.item() == 2.5 and w.grad.item() == 0.0


def test_max_gate_routes_elementwise(rng: np.random.Generator) -> None:
    av = np.array([1.0, -2.0, 5.0, 0.5])
    bv = np.array([0.0, 3.0, 4.0, 2.0])
    g = rng.standard_normal(4)
    a = pg.tensor(av, requires_grad=True)
    b = pg.tensor(bv, requires_grad=True)
    pg.maximum(a, b).backward(pg.tensor(g))
    close(a.grad, np.where(av > bv, g, 0.0))
    close(b.grad, np.where(bv > av, g, 0.0))


def test_max_reduction_routes_to_the_largest() -> None:
    x = pg.tensor(np.array([1.0, 5.0, 3.0]), requires_grad=True)
    m = x.max()
    assert m.item() == 5.0
    m.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])


def test_mul_gate_switches() -> None:
    x, y = scalar(3.0, pg.float64), scalar(-4.0, pg.float64)
    (x * y).backward(pg.tensor(np.float64(2.0)))
    assert x.grad.item() == -8.0  # y * upstream
    assert y.grad.item() == 6.0   # x * upstream


def test_all_three_patterns_in_one_circuit() -> None:
    # f = 2 (x y + max(z, w)) at x=3, y=-4, z=2, w=-1:  f = 2 (-12 + 2) = -20
    x, y, z, w = (scalar(v, pg.float64) for v in (3.0, -4.0, 2.0, -1.0))
    xy = x * y
    mx = pg.maximum(z, w)
    s = xy + mx
    for t in (xy, mx, s):
        t.retain_grad()
    f = s * 2.0
    assert f.item() == -20.0
    f.backward()
    assert s.grad.item() == 2.0
    assert xy.grad.item() == 2.0 and mx.grad.item() == 2.0   # add distributes
    assert z.grad.item() == 2.0 and w.grad.item() == 0.0     # max routes
    assert x.grad.item() == -8.0 and y.grad.item() == 6.0    # mul switches


# ---------------------------------------------------------------------------
# f(x, y) = x^2 y + y  =>  grad f = (2 x y, x^2 + 1)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("xv", "yv"), [(3.0, -2.0), (-1.5, 0.5), (0.0, 4.0)])
def test_gradient_of_x_squared_y_plus_y(xv: float, yv: float) -> None:
    x, y = scalar(xv, pg.float64), scalar(yv, pg.float64)
    f = x * x * y + y
    close(f, xv**2 * yv + yv)
    f.backward()
    close(x.grad, 2.0 * xv * yv)
    close(y.grad, xv**2 + 1.0)


def test_gradient_of_x_squared_y_plus_y_vectorised() -> None:
    xv = np.array([3.0, -1.5, 0.0, 2.0])
    yv = np.array([-2.0, 0.5, 4.0, 1.0])
    x = pg.tensor(xv, requires_grad=True)
    y = pg.tensor(yv, requires_grad=True)
    (x**2 * y + y).sum().backward()
    close(x.grad, 2.0 * xv * yv)
    close(y.grad, xv**2 + 1.0)
