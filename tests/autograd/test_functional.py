"""pygrad.functional on both engines: grad, value_and_grad, jacobian, hessian,
hvp and the second-order test, checked against the notes' worked examples
(every number recomputed here), closed-form derivatives, finite differences
of the first-order gradient, and C-vs-reference parity.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref
from pygrad.functional import (
    StationaryPoint,
    classify_stationary_point,
    grad,
    hessian,
    hvp,
    jacobian,
    value_and_grad,
)

ENGINES = [pg, ref]
ENGINE_IDS = ["c", "ref"]


def t64(e: Any, data: Any, requires_grad: bool = False) -> Any:
    return e.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


def sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# Seed 004: f(x₁, x₂, x₃) = x₁² + x₁(1 − x₂) + x₂² − x₂x₃ + x₃² + x₃.
# By hand: ∇f = (2x₁ + 1 − x₂, −x₁ + 2x₂ − x₃, −x₂ + 2x₃ + 1) = H x + c with
# H = [[2, −1, 0], [−1, 2, −1], [0, −1, 2]] and c = (1, 0, 1).
H_NOTES = np.array([[2.0, -1.0, 0.0], [-1.0, 2.0, -1.0], [0.0, -1.0, 2.0]])
C_NOTES = np.array([1.0, 0.0, 1.0])


def f_notes(x: Any) -> Any:
    x1, x2, x3 = x[0], x[1], x[2]
    return x1 * x1 + x1 * (1.0 - x2) + x2 * x2 - x2 * x3 + x3 * x3 + x3


def numeric_hessian(e: Any, f: Any, x0: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centered differences of the first-order gradient: column j ≈ (∇f(x + h eⱼ) − ∇f(x − h eⱼ)) / 2h."""
    g = grad(f)
    n = x0.size
    out = np.zeros((n, n))
    for j in range(n):
        step = np.zeros(n)
        step[j] = h
        up = g(t64(e, (x0.reshape(-1) + step).reshape(x0.shape))).numpy().reshape(-1)
        down = g(t64(e, (x0.reshape(-1) - step).reshape(x0.shape))).numpy().reshape(-1)
        out[:, j] = (up - down) / (2 * h)
    return out


# ---------------------------------------------------------------------------
# grad, value_and_grad (first order)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_grad_of_x2y_plus_y(e: Any) -> None:
    # seed 004: ∇(x²y + y) = (2xy, x² + 1); at (3, -2): (-12, 10)
    f = lambda x, y: x * x * y + y  # noqa: E731
    x, y = t64(e, 3.0), t64(e, -2.0)
    dx, dy = grad(f, argnums=(0, 1))(x, y)
    assert isinstance(dx, e.Tensor) and dx.shape == () and dx.dtype == pg.float64
    assert dx.item() == -12.0 and dy.item() == 10.0  # small integers: exact
    assert grad(f)(x, y).item() == -12.0
    assert grad(f, argnums=1)(x, y).item() == 10.0
    assert grad(f, argnums=-1)(x, y).item() == 10.0
    value, (gx, gy) = value_and_grad(f, argnums=(0, 1))(x, y)
    assert value.item() == -20.0 and not value.requires_grad  # 9·(-2) + (-2)
    assert (gx.item(), gy.item()) == (-12.0, 10.0)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_grad_of_squared_norm_of_Wx(e: Any, rng: np.random.Generator) -> None:
    # seed 001: f = ‖W·x‖² ⇒ ∂f/∂x = 2Wᵀ(Wx), ∂f/∂W = 2(Wx)xᵀ
    W0, x0 = rng.standard_normal((3, 4)), rng.standard_normal(4)
    f = lambda W, x: ((W @ x) ** 2).sum()  # noqa: E731
    dW, dx = grad(f, argnums=(0, 1))(t64(e, W0), t64(e, x0))
    np.testing.assert_allclose(dx.numpy(), 2 * W0.T @ (W0 @ x0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dW.numpy(), 2 * np.outer(W0 @ x0, x0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_grad_leaves_the_callers_tensors_alone(e: Any) -> None:
    x = t64(e, [1.0, 2.0], requires_grad=True)
    g = grad(lambda x: (x * x).sum())(x)
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    assert x.grad is None and not g.requires_grad


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_grad_of_unused_argument_is_zero(e: Any) -> None:
    gx, gy = grad(lambda x, y: (x * 2.0).sum(), argnums=(0, 1))(t64(e, [1.0, 2.0]), t64(e, [[5.0]]))
    np.testing.assert_array_equal(gx.numpy(), [2.0, 2.0])
    assert gy.shape == (1, 1) and gy.numpy()[0, 0] == 0.0


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_grad_accepts_arrays_with_an_engine(e: Any) -> None:
    seen = []

    def f(x: Any) -> Any:
        seen.append(type(x))
        return (x * x * x).sum()

    g = grad(f, engine=e)(np.array([1.0, -2.0]))
    assert seen == [e.Tensor] and isinstance(g, e.Tensor)
    np.testing.assert_array_equal(g.numpy(), [3.0, 12.0])


# ---------------------------------------------------------------------------
# jacobian
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_jacobian_of_affine_map_is_W(e: Any, rng: np.random.Generator) -> None:
    # seed 002: ∂(Wx + b)/∂x = W, ∂(Wx + b)/∂b = I
    W0, x0, b0 = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)
    W, b, x = t64(e, W0), t64(e, b0), t64(e, x0)
    J = jacobian(lambda x: W @ x + b, x)
    assert J.shape == (3, 4) and J.dtype == np.float64
    np.testing.assert_allclose(J, W0, rtol=1e-15, atol=1e-15)
    np.testing.assert_array_equal(jacobian(lambda b: W @ x + b, b), np.eye(3))


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_jacobian_of_elementwise_functions_is_diagonal(e: Any) -> None:
    # seed 002: for h = f(z) elementwise, ∂h/∂z = diag(f'(z))
    z0 = np.array([-1.5, -0.2, 0.0, 0.7, 2.5])
    z = t64(e, z0)
    np.testing.assert_allclose(jacobian(lambda z: z.tanh(), z), np.diag(1 - np.tanh(z0) ** 2), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(jacobian(lambda z: z.sigmoid(), z), np.diag(sig(z0) * (1 - sig(z0))),
                               rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_jacobian_of_softmax(e: Any) -> None:
    # s = softmax(x): ∂sᵢ/∂xⱼ = sᵢ(δᵢⱼ − sⱼ)
    x0 = np.array([0.5, -1.0, 2.0, 0.0])
    s = np.exp(x0) / np.exp(x0).sum()
    np.testing.assert_allclose(jacobian(lambda x: x.softmax(), t64(e, x0)), np.diag(s) - np.outer(s, s),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_jacobian_flattens_and_runs_one_forward(e: Any) -> None:
    calls = []

    def f(X: Any) -> Any:  # (2, 3) -> (3, 2): out = 2 Xᵀ
        calls.append(1)
        return X.T * 2.0

    X0 = np.arange(6.0).reshape(2, 3)
    J = jacobian(f, t64(e, X0))
    assert len(calls) == 1
    assert J.shape == (6, 6)
    # out.flat[i] = 2 X.flat[perm[i]], with perm = the flat indices of Xᵀ
    perm = np.arange(6).reshape(2, 3).T.reshape(-1)
    np.testing.assert_array_equal(J, 2.0 * np.eye(6)[perm])
    np.testing.assert_array_equal(J.reshape(3, 2, 2, 3)[2, 1], [[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]])


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_jacobian_of_a_constant_row_and_float32(e: Any) -> None:
    x = e.tensor([1.0, 2.0])  # float32
    c = e.tensor([7.0])
    J = jacobian(lambda x: e.concatenate([x * x, c]), x)
    assert J.dtype == np.float32
    np.testing.assert_array_equal(J, [[2.0, 0.0], [0.0, 4.0], [0.0, 0.0]])


# ---------------------------------------------------------------------------
# stationary point of the notes' example (first order, then second order)
# ---------------------------------------------------------------------------


def stationary_point_of_notes() -> np.ndarray:
    # ∇f = H x + c = 0 ⇒ x* = −H⁻¹ c. H⁻¹ = ¼ [[3, 2, 1], [2, 4, 2], [1, 2, 3]], so
    # x* = −¼ (3 + 1, 2 + 2, 1 + 3) = (−1, −1, −1).
    x_star = -np.linalg.solve(H_NOTES, C_NOTES)
    np.testing.assert_allclose(x_star, [-1.0, -1.0, -1.0], rtol=1e-15)
    # by hand at (−1, −1, −1): 2(−1) + 1 − (−1) = 0; 1 − 2 + 1 = 0; 1 − 2 + 1 = 0
    return np.array([-1.0, -1.0, -1.0])


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_gradient_of_notes_example_vanishes_at_its_stationary_point(e: Any, rng: np.random.Generator) -> None:
    x_star = stationary_point_of_notes()
    np.testing.assert_array_equal(grad(f_notes)(t64(e, x_star)).numpy(), [0.0, 0.0, 0.0])
    x0 = rng.standard_normal(3)
    np.testing.assert_allclose(grad(f_notes)(t64(e, x0)).numpy(), H_NOTES @ x0 + C_NOTES, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_hessian_of_notes_example(e: Any, rng: np.random.Generator) -> None:
    for x0 in (np.zeros(3), rng.standard_normal(3), 10 * rng.standard_normal(3)):
        H = hessian(f_notes, t64(e, x0))
        assert H.shape == (3, 3)
        np.testing.assert_array_equal(H, H_NOTES)  # sums of small integers: exact
    # eigenvalues of the tridiagonal (2, -1): 2 − 2cos(kπ/4), k = 1, 2, 3 = 2 − √2, 2, 2 + √2
    lam = np.linalg.eigvalsh(H_NOTES)
    np.testing.assert_allclose(lam, [2 - math.sqrt(2), 2.0, 2 + math.sqrt(2)], rtol=1e-14)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_notes_stationary_point_is_a_minimum(e: Any) -> None:
    res = classify_stationary_point(f_notes, t64(e, stationary_point_of_notes()))
    assert isinstance(res, StationaryPoint)
    assert res.label == "minimum"
    np.testing.assert_allclose(res.eigenvalues, [2 - math.sqrt(2), 2.0, 2 + math.sqrt(2)], rtol=1e-14)
    assert res.grad_norm == 0.0
    # f(−1, −1, −1) = 1 + (−1)(2) + 1 − 1 + 1 − 1 = −1
    assert res.value == -1.0
    np.testing.assert_array_equal(res.hessian, H_NOTES)
    assert "minimum" in str(res)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_saddle_maximum_and_inconclusive(e: Any) -> None:
    origin = t64(e, [0.0, 0.0])
    saddle = classify_stationary_point(lambda p: p[0] * p[0] - p[1] * p[1], origin)
    assert saddle.label == "saddle"
    np.testing.assert_allclose(saddle.eigenvalues, [-2.0, 2.0], rtol=1e-14)
    top = classify_stationary_point(lambda p: -(p[0] * p[0]) - p[1] * p[1], origin)
    assert top.label == "maximum"
    np.testing.assert_allclose(top.eigenvalues, [-2.0, -2.0], rtol=1e-14)
    # x⁴ + y²: Hessian diag(12x², 2) = diag(0, 2) at 0; the second-order test is silent
    flat = classify_stationary_point(lambda p: p[0] ** 4 + p[1] * p[1], origin)
    assert flat.label == "inconclusive" and "zero" in flat.reason
    np.testing.assert_allclose(flat.eigenvalues, [0.0, 2.0], rtol=1e-14, atol=1e-14)
    # x² + y² at (1, 0): ∇f = (2, 0) ≠ 0, not a stationary point
    off = classify_stationary_point(lambda p: p[0] * p[0] + p[1] * p[1], t64(e, [1.0, 0.0]))
    assert off.label == "inconclusive" and "not a stationary point" in off.reason
    assert off.grad_norm == 2.0
    # with a loose enough grad_tol the same point passes as a minimum
    assert classify_stationary_point(lambda p: p[0] * p[0] + p[1] * p[1], t64(e, [1.0, 0.0]),
                                     grad_tol=3.0).label == "minimum"


# ---------------------------------------------------------------------------
# hessian, hvp (double backward)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_hvp_equals_H_times_v(e: Any, rng: np.random.Generator) -> None:
    x = t64(e, rng.standard_normal(3))
    # H v for v = (1, 2, 3): (2 − 2, −1 + 4 − 3, −2 + 6) = (0, 0, 4)
    np.testing.assert_array_equal(hvp(f_notes, x, np.array([1.0, 2.0, 3.0])), [0.0, 0.0, 4.0])
    # a non-quadratic function: hvp agrees with the full Hessian
    f = lambda x: (x.tanh() * x.exp()).sum() + (x[0] * x[1] * x[2])  # noqa: E731
    v = rng.standard_normal(3)
    out = hvp(f, x, t64(e, v))
    assert out.shape == (3,)
    np.testing.assert_allclose(out, hessian(f, x) @ v, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_hessian_of_a_matrix_argument_is_flattened(e: Any) -> None:
    # f(X) = Σ X³ + X₀₁·X₁₀ for X of shape (2, 2); flat order X₀₀, X₀₁, X₁₀, X₁₁:
    # H = diag(6X) + (1 at (1, 2) and (2, 1))
    X0 = np.array([[0.5, -1.0], [2.0, 1.5]])
    H = hessian(lambda X: (X ** 3).sum() + X[0, 1] * X[1, 0], t64(e, X0))
    expected = np.diag(6 * X0.reshape(-1))
    expected[1, 2] = expected[2, 1] = 1.0
    assert H.shape == (4, 4)
    np.testing.assert_allclose(H, expected, rtol=1e-14, atol=1e-14)
    assert H.reshape(2, 2, 2, 2)[1, 1, 1, 1] == pytest.approx(9.0)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_hessian_of_linear_function_is_zero(e: Any) -> None:
    np.testing.assert_array_equal(hessian(lambda x: (x * 3.0).sum(), t64(e, [1.0, 2.0])), np.zeros((2, 2)))


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_grad_of_grad(e: Any) -> None:
    # d²/dx² x³ = 6x; at x = 2: 12
    f = lambda x: x * x * x  # noqa: E731
    assert grad(grad(f, create_graph=True))(t64(e, 2.0)).item() == pytest.approx(12.0, rel=1e-15)
    # with create_graph the gradient stays connected to a caller's leaf, whose .grad is restored
    x = t64(e, [1.0, -2.0], requires_grad=True)
    g = grad(lambda x: (x ** 3).sum(), create_graph=True)(x)
    assert g.requires_grad and x.grad is None
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, -12.0])  # Σᵢ ∂gᵢ/∂x = 6x


# (name, f, input shape); compositions of exp, tanh, mul, matmul, sum, softmax
PRNG = np.random.default_rng(11)
A33 = PRNG.standard_normal((3, 3))
C3 = PRNG.standard_normal(3)
A22 = PRNG.standard_normal((2, 2))
RANDOM_FUNCTIONS = [
    ("tanh_matmul_exp", lambda x: (A33 @ x).tanh().exp().sum(), (3,)),
    ("softmax_weighted", lambda x: (x.softmax() * C3).sum() + (x * x * x).sum() * 0.1, (3,)),
    ("quadratic_form", lambda x: (x.tanh() * x.exp()) @ A33 @ x, (3,)),
    ("matrix", lambda X: (X @ X).tanh().sum() + (X.softmax(axis=0) * X * A22).sum(), (2, 2)),
]


@pytest.mark.parametrize("name,f,shape", RANDOM_FUNCTIONS, ids=[r[0] for r in RANDOM_FUNCTIONS])
def test_hessian_parity_and_finite_differences(name: str, f: Any, shape: tuple[int, ...]) -> None:
    x0 = np.random.default_rng(zlib.crc32(name.encode())).standard_normal(shape) * 0.7
    Hc, Hr = hessian(f, t64(pg, x0)), hessian(f, t64(ref, x0))
    n = x0.size
    assert Hc.shape == Hr.shape == (n, n)
    np.testing.assert_allclose(Hc, Hr, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(Hc, Hc.T, rtol=1e-10, atol=1e-12)
    # an oracle without double backward: centered differences of the first-order gradient
    np.testing.assert_allclose(Hr, numeric_hessian(ref, f, x0), rtol=1e-6, atol=1e-7)
    v = np.linspace(-1.0, 1.0, n).reshape(shape)
    np.testing.assert_allclose(hvp(f, t64(pg, x0), v).reshape(-1), Hr @ v.reshape(-1), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_bad_input(e: Any) -> None:
    x = t64(e, [1.0, 2.0, 3.0])
    sq = lambda x: (x * x).sum()  # noqa: E731
    with pytest.raises(ValueError, match=r"grad: f must return a one-element Tensor.*shape \(3,\)"):
        grad(lambda x: x * x)(x)
    with pytest.raises(ValueError, match=r"hessian: f must return a one-element.*shape \(3,\)"):
        hessian(lambda x: x * x, x)
    with pytest.raises(ValueError, match=r"hvp: v has shape \(2,\) but x has shape \(3,\)"):
        hvp(sq, x, np.ones(2))
    with pytest.raises(ValueError, match=r"argnums 2 is out of range for 2"):
        grad(lambda a, b: a.sum(), argnums=2)(x, x)
    with pytest.raises(ValueError, match="repeats"):
        grad(lambda a, b: a.sum(), argnums=(0, 0))(x, x)
    with pytest.raises(TypeError, match="argnums must be an int"):
        grad(sq, argnums="0")(x)
    with pytest.raises(TypeError, match="grad: f must be callable, got int"):
        grad(3)
    with pytest.raises(TypeError, match="jacobian: f must return a Tensor, got float"):
        jacobian(lambda x: 1.0, x)
    with pytest.raises(TypeError, match="jacobian: x has dtype bool"):
        jacobian(lambda x: x, x > 1.0)
    with pytest.raises(TypeError, match="hessian: x must be a Tensor or an array of floats, got str"):
        hessian(sq, "abc")
    with pytest.raises(TypeError, match="hvp: v must be a Tensor or an array"):
        hvp(sq, x, object())
    with pytest.raises(ValueError, match="engine must be 'pygrad' or 'pygrad.reference'"):
        jacobian(sq, [1.0], engine="torch")
    with pytest.raises(ValueError, match="tol must be a non-negative"):
        classify_stationary_point(sq, x, tol=-1.0)
    other = ref if e is pg else pg
    with pytest.raises(TypeError, match=f"engine='{other.__name__}'"):
        jacobian(sq, x, engine=other)


def test_mixed_engines_are_refused() -> None:
    with pytest.raises(TypeError, match="mix Tensors of pygrad and pygrad.reference"):
        grad(lambda a, b: (a * 2.0).sum(), argnums=(0, 1))(t64(pg, [1.0]), t64(ref, [1.0]))
