"""pygrad.gradcheck: numeric gradients and gradient checks on both engines.

Numeric gradients are compared with derivatives worked out by hand; gradcheck
must pass on correct ops, catch deliberately wrong user gates (naming the
input and the worst element), warn in float32 and reject bad arguments.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import pygrad as pg
import pygrad.gates as G
import pygrad.reference as ref
import pygrad.reference.gates as RG
from pygrad.gradcheck import (
    GradcheckError,
    GradcheckReport,
    GradcheckWarning,
    default_h,
    gradcheck,
    numeric_grad,
)

ENGINES = [pg, ref]
ENGINE_IDS = ["c", "ref"]
GATES = {pg: G, ref: RG}


def t64(e: Any, data: Any, requires_grad: bool = True) -> Any:
    return e.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


def sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------------
# numeric_grad
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_numeric_grad_of_cubic_plus_exp(e: Any) -> None:
    # d/dx Σ (x³ + eˣ) = 3x² + eˣ
    x0 = np.array([[0.5, -1.25, 2.0], [0.0, 1.5, -0.3]])
    (g,) = numeric_grad(lambda x: (x * x * x + x.exp()).sum(), [t64(e, x0)])
    assert g.shape == x0.shape and g.dtype == np.float64
    np.testing.assert_allclose(g, 3 * x0**2 + np.exp(x0), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_numeric_grad_of_two_inputs_from_the_notes(e: Any) -> None:
    # seed 004: f(x, y) = x²y + y, ∇f = (2xy, x² + 1) = (-12, 10) at (3, -2)
    gx, gy = numeric_grad(lambda x, y: x * x * y + y, (t64(e, 3.0), t64(e, -2.0)))
    assert gx.shape == () and gy.shape == ()
    np.testing.assert_allclose([gx, gy], [-12.0, 10.0], rtol=1e-9)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_numeric_grad_leaves_inputs_alone(e: Any) -> None:
    x = t64(e, [1.0, 2.0, 3.0])
    before = x.numpy().copy()
    numeric_grad(lambda x: (x * x).sum(), x)
    np.testing.assert_array_equal(x.numpy(), before)
    assert x.grad is None


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_numeric_grad_forward_method(e: Any) -> None:
    # one-sided difference of Σ x²: (f(x+h) - f(x))/h = 2x + h exactly, up to rounding
    (g,) = numeric_grad(lambda x: (x * x).sum(), t64(e, [1.0, -2.0]), h=1e-3, method="forward")
    np.testing.assert_allclose(g, [2.0 + 1e-3, -4.0 + 1e-3], rtol=1e-9)


def test_default_h_follows_the_error_balance() -> None:
    eps64, eps32 = np.finfo(np.float64).eps, np.finfo(np.float32).eps
    assert default_h(pg.float64) == pytest.approx(eps64 ** (1 / 3))   # ~6.06e-6
    assert default_h(pg.float64, "forward") == pytest.approx(math.sqrt(eps64))   # ~1.49e-8
    assert default_h(np.float32) == pytest.approx(eps32 ** (1 / 3))   # ~4.9e-3
    assert 6.0e-6 < default_h(pg.float64) < 6.1e-6


def test_central_beats_forward_on_a_smooth_function() -> None:
    x0 = np.array([0.3, -0.7, 1.2, 2.0])
    exact = np.exp(x0)  # d/dx Σ eˣ

    def err(**kw: Any) -> float:
        (g,) = numeric_grad(lambda x: x.exp().sum(), t64(pg, x0), **kw)
        return float(np.max(np.abs(g - exact)))

    # same step: central error ~ h²/6 · eˣ, forward error ~ h/2 · eˣ
    assert err(h=1e-3, method="central") < err(h=1e-3, method="forward") / 100
    # each at its own default step: ~ε^(2/3) against ~ε^(1/2)
    assert err() < err(method="forward")
    assert err() < 1e-8
    # too large a step: truncation; too small: rounding
    assert err() < err(h=1e-1) / 1000
    assert err() < err(h=1e-12) / 1000


# ---------------------------------------------------------------------------
# gradcheck passes on correct ops
# ---------------------------------------------------------------------------

RNG = np.random.default_rng(7)
DOUT3 = RNG.standard_normal(3)
DOUT23 = RNG.standard_normal((2, 3))
W34 = RNG.standard_normal((3, 4))

# (name, f, input shapes, domain); f returns Σ out · dout (a random upstream)
CORRECT = [
    ("mul_add", lambda x, y: ((x * y + x) * DOUT23).sum(), [(2, 3), (2, 3)], "any"),
    ("broadcast_div", lambda x, y: ((x / y) * DOUT23).sum(), [(2, 3), (3,)], "positive"),
    ("exp_tanh_sigmoid", lambda x: ((x.exp() + x.tanh() * x.sigmoid()) * DOUT23).sum(), [(2, 3)], "any"),
    ("matmul", lambda w, x: ((w @ x).tanh() * DOUT3).sum(), [(3, 4), (4,)], "any"),
    ("softmax", lambda x: (x.softmax(axis=1) * DOUT23).sum(), [(2, 3)], "any"),
    ("log_softmax_mean", lambda x: x.log_softmax(axis=0).mean() * 2.5, [(2, 3)], "any"),
    ("pow_log_sqrt", lambda x: ((x ** 1.5 + x.log() * x.sqrt()) * DOUT3).sum(), [(3,)], "positive"),
    ("three_inputs", lambda a, b, c: ((a * b).sum(axis=1) * c).sum(), [(2, 3), (2, 3), (2,)], "any"),
]


def make(e: Any, shapes: list[tuple[int, ...]], domain: str, rng: np.random.Generator) -> list[Any]:
    out = []
    for s in shapes:
        a = rng.standard_normal(s)
        if domain == "positive":
            a = np.abs(a) + 0.5
        out.append(t64(e, a))
    return out


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
@pytest.mark.parametrize("name,f,shapes,domain", CORRECT, ids=[c[0] for c in CORRECT])
def test_gradcheck_passes_on_correct_ops(e: Any, name: str, f: Any, shapes: Any, domain: str,
                                          rng: np.random.Generator) -> None:
    xs = make(e, shapes, domain, rng)
    report = gradcheck(f, xs)
    assert isinstance(report, GradcheckReport) and report.ok and bool(report)
    assert len(report.inputs) == len(xs)
    for c, x in zip(report.inputs, xs):
        assert c.checked and c.ok and c.shape == x.shape
        assert c.max_abs_err < 1e-7
        assert c.worst_index is not None and len(c.worst_index) == x.ndim
        assert x.grad is None  # the caller's tensors are not touched


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_gradcheck_checks_a_correct_user_gate(e: Any) -> None:
    class Sigmoid(GATES[e].Gate):
        def forward(self, x: np.ndarray) -> np.ndarray:
            self.s = 1.0 / (1.0 + np.exp(-x))
            return self.s

        def backward(self, dz: np.ndarray) -> np.ndarray:
            return (1.0 - self.s) * self.s * dz

    x = t64(e, [-1.0, 0.25, 2.0])
    assert gradcheck(lambda x: (Sigmoid()(x * 2.0) * DOUT3).sum(), [x]).ok


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_gradcheck_skips_inputs_without_grad(e: Any) -> None:
    x, c = t64(e, [1.0, 2.0]), t64(e, [3.0, -1.0], requires_grad=False)
    report = gradcheck(lambda x, c: (x * c).sum(), [x, c], names=["x", "c"])
    assert report.ok
    assert report.inputs[0].checked and not report.inputs[1].checked
    np.testing.assert_allclose(report.inputs[0].analytic, [3.0, -1.0])
    assert "skipped" in str(report)


# ---------------------------------------------------------------------------
# gradcheck catches wrong gradients
# ---------------------------------------------------------------------------


def bad_gates(e: Any) -> tuple[type, type]:
    Gate = GATES[e].Gate

    class DoubledSigmoid(Gate):
        """σ with a backward off by a factor of 2."""

        def forward(self, x: np.ndarray) -> np.ndarray:
            self.s = 1.0 / (1.0 + np.exp(-x))
            return self.s

        def backward(self, dz: np.ndarray) -> np.ndarray:
            return 2.0 * (1.0 - self.s) * self.s * dz

    class WrongSignProduct(Gate):
        """x·y with the sign of dy flipped."""

        def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
            self.x, self.y = x, y
            return x * y

        def backward(self, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return self.y * dz, -self.x * dz

    return DoubledSigmoid, WrongSignProduct


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_gradcheck_catches_a_gate_off_by_a_factor(e: Any) -> None:
    DoubledSigmoid, _ = bad_gates(e)
    x0 = np.array([[0.3, -1.2, 0.8], [2.0, -0.1, 1.1]])
    y0 = np.array([[1.5, -0.4, 2.2], [0.7, -3.0, 0.9]])
    f = lambda x, y: (DoubledSigmoid()(x) * y).sum()  # noqa: E731
    with pytest.raises(GradcheckError) as info:
        gradcheck(f, [t64(e, x0), t64(e, y0)], names=["x", "y"])
    assert isinstance(info.value, AssertionError)
    report = info.value.report
    assert not report.ok
    cx, cy = report.inputs
    assert not cx.ok and cy.ok
    assert [c.name for c in report.failures] == ["x"]
    # ∂f/∂x = σ'(x)·y; the gate reports twice that. The error |σ'(x) y| over
    # the tolerance 1e-5 + 1e-3|σ'(x) y| grows with |σ'(x) y|: worst where it is largest.
    true = sig(x0) * (1 - sig(x0)) * y0
    worst = np.unravel_index(np.argmax(np.abs(true)), x0.shape)
    assert cx.worst_index == tuple(int(i) for i in worst)
    assert cx.numeric_at_worst == pytest.approx(true[worst], rel=1e-8)
    assert cx.analytic_at_worst == pytest.approx(2 * true[worst], rel=1e-12)
    assert cx.max_abs_err == pytest.approx(np.max(np.abs(true)), rel=1e-8)
    assert cx.max_rel_err == pytest.approx(0.5, rel=1e-7)  # |2a - a| / |2a|
    text = str(info.value)
    assert "FAILED" in text and "FAIL" in text.splitlines()[2] and str(cx.worst_index) in text
    assert text.splitlines()[2].startswith("x ")


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_gradcheck_catches_a_sign_error_and_reports_without_raising(e: Any) -> None:
    _, WrongSignProduct = bad_gates(e)
    a0, b0 = np.array([0.5, -2.0, 1.0, 3.5]), np.array([1.0, 0.25, -0.75, 2.0])
    report = gradcheck(lambda a, b: WrongSignProduct()(a, b).sum(), [t64(e, a0), t64(e, b0)],
                       raise_exception=False)
    assert not report.ok
    ca, cb = report.inputs
    assert ca.ok and not cb.ok and cb.name == "input 1"
    # ∂/∂b Σ a·b = a; the gate says -a: worst at the largest |a|, index 3
    assert cb.worst_index == (3,)
    assert cb.numeric_at_worst == pytest.approx(3.5, rel=1e-9)
    assert cb.analytic_at_worst == -3.5
    assert cb.max_abs_err == pytest.approx(7.0, rel=1e-9)
    assert cb.max_rel_err == pytest.approx(2.0, rel=1e-9)  # |-a - a| / |a|
    assert "input 1" in str(report)


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_gradcheck_tolerances_decide(e: Any) -> None:
    _, WrongSignProduct = bad_gates(e)
    # a gradient off by 2|a| fails at the default tolerances but passes a loose atol
    f = lambda a, b: WrongSignProduct()(a, b).sum() * 1e-3  # noqa: E731
    args = [t64(e, [1.0, 2.0]), t64(e, [1.0, 1.0])]
    assert not gradcheck(f, args, raise_exception=False).ok
    assert gradcheck(f, args, atol=5e-3).ok


# ---------------------------------------------------------------------------
# float32 and bad arguments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_float32_warns(e: Any) -> None:
    x = e.tensor([0.5, -1.0], requires_grad=True)  # float32
    with pytest.warns(GradcheckWarning, match="float64"):
        report = gradcheck(lambda x: (x * x).sum(), [x], raise_exception=False)
    assert report.inputs[0].dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gradcheck(lambda x: (x * x).sum(), [t64(e, [0.5, -1.0])])  # float64: no warning


@pytest.mark.parametrize("e", ENGINES, ids=ENGINE_IDS)
def test_bad_arguments(e: Any) -> None:
    x = t64(e, [1.0, 2.0, 3.0])
    sq = lambda x: (x * x).sum()  # noqa: E731
    with pytest.raises(TypeError, match="callable"):
        gradcheck("f", [x])
    with pytest.raises(TypeError, match="input 1 must be a pygrad Tensor, got list"):
        gradcheck(lambda a, b: a.sum(), [x, [1.0]])
    with pytest.raises(ValueError, match=r"one-element.*shape \(3,\)"):
        gradcheck(lambda x: x * x, [x])
    with pytest.raises(ValueError, match=r"numeric_grad: f must return a one-element.*shape \(3,\)"):
        numeric_grad(lambda x: x * x, [x])
    with pytest.raises(TypeError, match="got str"):
        numeric_grad(lambda x: "no", [x])
    with pytest.raises(TypeError, match="gradcheck: f must return a one-element Tensor, got float"):
        gradcheck(lambda x: 1.0, [x])
    with pytest.raises(ValueError, match="method"):
        numeric_grad(sq, [x], method="backward")
    for h in (0.0, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="h must be"):
            numeric_grad(sq, [x], h=h)
    with pytest.raises(ValueError, match="vanishes"):
        numeric_grad(sq, [x], h=1e-20)
    with pytest.raises(ValueError, match="atol"):
        gradcheck(sq, [x], atol=-1.0)
    with pytest.raises(ValueError, match="requires grad"):
        gradcheck(sq, [t64(e, [1.0], requires_grad=False)])
    with pytest.raises(ValueError, match="empty"):
        numeric_grad(sq, [])
    with pytest.raises(ValueError, match="2 names for 1 inputs"):
        gradcheck(sq, [x], names=["a", "b"])
    with pytest.raises(TypeError, match="dtype bool"):
        numeric_grad(lambda b: b.sum(), [x > 1.0])


def test_mixed_engines_are_refused() -> None:
    with pytest.raises(TypeError, match="pygrad and pygrad.reference"):
        gradcheck(lambda a, b: (a * 2).sum(), [t64(pg, [1.0]), t64(ref, [1.0])])


def test_same_report_on_both_engines(rng: np.random.Generator) -> None:
    x0 = rng.standard_normal((2, 3))
    f = lambda x: (x.tanh().exp() * DOUT23).sum()  # noqa: E731
    rc, rr = gradcheck(f, [t64(pg, x0)]), gradcheck(f, [t64(ref, x0)])
    np.testing.assert_allclose(rc.inputs[0].analytic, rr.inputs[0].analytic, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(rc.inputs[0].numeric, rr.inputs[0].numeric, rtol=1e-6, atol=1e-9)
