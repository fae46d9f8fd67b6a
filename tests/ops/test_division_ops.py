"""atan2, fmod, remainder (%), floor_divide (//) and the composed activations
(gelu's tanh form, hardtanh, relu6, softplus with beta, lerp): values against
Python's and numpy's own operators, gradients against finite differences,
integer semantics (signs, wrap-around, division by zero), PyTorch as an
optional oracle."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

import pygrad
import pygrad.nn.functional as F
import pygrad.reference
from pygrad.gradcheck import gradcheck

ENGINES = {"c": pygrad, "reference": pygrad.reference}


@pytest.fixture(params=sorted(ENGINES))
def m(request: pytest.FixtureRequest) -> Any:
    return ENGINES[request.param]


PAIRS = list(itertools.product([7, -7, 6, -6, 0, 1, -1], [3, -3, 2, -2, 1, -1, 7]))


def test_integer_remainder_and_floor_divide_follow_python(m: Any) -> None:
    a = m.tensor([p[0] for p in PAIRS])
    b = m.tensor([p[1] for p in PAIRS])
    assert (a % b).tolist() == [x % y for x, y in PAIRS]
    assert (a // b).tolist() == [x // y for x, y in PAIRS]
    assert m.fmod(a, b).tolist() == [int(math.fmod(x, y)) for x, y in PAIRS]
    assert (a % b).dtype == m.int64 and (a // b).dtype == m.int64
    assert (17 % m.tensor([5, -5])).tolist() == [2, -3]
    assert (17 // m.tensor([5, -5])).tolist() == [3, -4]
    i32 = m.tensor(np.array([7, -7], dtype=np.int32))
    assert (i32 % 4).dtype == m.int32 and (i32 % 4).tolist() == [3, 1]


def test_integer_edge_cases(m: Any) -> None:
    lo = np.iinfo(np.int64).min
    assert (m.tensor([lo]) // -1).tolist() == [lo]  # wraps, never traps
    assert (m.tensor([lo]) % -1).tolist() == [0]
    for f in (lambda: m.tensor([1, 2]) // m.tensor([1, 0]), lambda: m.tensor([3]) % 0,
              lambda: m.fmod(m.tensor([3]), m.tensor([0]))):
        with pytest.raises(ValueError, match="integer division by zero"):
            f()
    assert (m.tensor([True, True]) // m.tensor([True, True])).tolist() == [1, 1]


def test_float_semantics_match_numpy(m: Any) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(200) * 5
    b = rng.standard_normal(200) * 2
    b[:3] = [0.0, -0.0, np.inf]
    a[3:5] = [np.inf, np.nan]
    with np.errstate(all="ignore"):
        for got, want in (((m.tensor(a) % m.tensor(b)), np.remainder(a, b)),
                          ((m.tensor(a) // m.tensor(b)), np.floor_divide(a, b)),
                          (m.fmod(m.tensor(a), m.tensor(b)), np.fmod(a, b))):
            np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_allclose(m.atan2(m.tensor(a), m.tensor(b)).numpy(), np.arctan2(a, b), rtol=1e-15, atol=0)
    assert (m.tensor([5.5, -5.5]) % 2).tolist() == [1.5, 0.5]
    assert (m.tensor([1.0]).atan2(m.tensor([-1.0]))).item() == pytest.approx(3 * math.pi / 4)
    assert m.atan2(m.tensor([1, 2]), m.tensor([3, 4])).dtype == m.float32


@pytest.mark.parametrize("name", ["atan2", "fmod", "remainder", "floor_divide"])
def test_gradcheck_float64(m: Any, name: str) -> None:
    rng = np.random.default_rng(3)
    a = m.tensor(rng.uniform(0.6, 1.9, (3, 4)) * np.where(rng.random((3, 4)) < 0.5, -3, 3), requires_grad=True)
    b = m.tensor(rng.uniform(0.6, 1.9, (4,)), requires_grad=True)
    f = getattr(m, name)
    gradcheck(lambda a, b: (f(a, b) * f(a, b)).sum(), (a, b))


def test_gradients_by_hand(m: Any) -> None:
    a = m.tensor([7.5, -7.5], requires_grad=True)
    b = m.tensor([2.0, 2.0], requires_grad=True)
    (a % b).sum().backward()
    assert a.grad.tolist() == [1.0, 1.0] and b.grad.tolist() == [-3.0, 4.0]  # -floor(a/b)
    a.grad = b.grad = None
    m.fmod(a, b).sum().backward()
    assert b.grad.tolist() == [-3.0, 3.0]  # -trunc(a/b)
    a.grad = b.grad = None
    (a // b).sum().backward()
    assert a.grad.tolist() == [0.0, 0.0] and b.grad.tolist() == [0.0, 0.0]


def test_double_backward_of_atan2(m: Any) -> None:
    y = m.tensor([0.5], dtype=m.float64, requires_grad=True)
    x = m.tensor([2.0], dtype=m.float64)
    z = m.atan2(y, x).sum()
    z.backward(create_graph=True)
    g = y.grad
    y.grad = None
    g.sum().backward()
    # d/dy atan2(y, x) = x / (x² + y²); d²/dy² = -2xy / (x² + y²)²
    assert g.item() == pytest.approx(2.0 / 4.25)
    assert y.grad.item() == pytest.approx(-2 * 2 * 0.5 / 4.25**2)


def test_composed_activations(m: Any) -> None:
    x = m.tensor(np.linspace(-3, 3, 13), requires_grad=True)
    F.hardtanh(x, -1.0, 2.0).sum().backward()
    xv = np.linspace(-3, 3, 13)
    np.testing.assert_array_equal(x.grad.numpy(), ((xv > -1) & (xv < 2)).astype(float))
    np.testing.assert_array_equal(F.relu6(m.tensor([-1.0, 3.0, 7.0])).numpy(), [0.0, 3.0, 6.0])
    g = F.gelu(m.tensor(xv), approximate="tanh").numpy()
    np.testing.assert_allclose(g, 0.5 * xv * (1 + np.tanh(np.sqrt(2 / np.pi) * (xv + 0.044715 * xv**3))), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(F.softplus(m.tensor(xv), beta=2.0).numpy(), np.log1p(np.exp(2 * xv)) / 2, rtol=1e-12)
    assert m.lerp(m.tensor([0.0, 10.0]), m.tensor([1.0, 20.0]), 0.25).tolist() == [0.25, 12.5]
    w = m.tensor([0.5, 1.0], requires_grad=True)
    s, e = m.tensor([1.0, 2.0], requires_grad=True), m.tensor([3.0, 6.0], requires_grad=True)
    s.lerp(e, w).sum().backward()
    assert s.grad.tolist() == [0.5, 0.0] and e.grad.tolist() == [0.5, 1.0] and w.grad.tolist() == [2.0, 4.0]
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="min_val"):
        F.hardtanh(x, 2.0, 1.0)


def test_against_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(50) * 4, rng.uniform(0.5, 2.0, 50) * np.sign(rng.standard_normal(50))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    pa, pb = pygrad.tensor(a, requires_grad=True), pygrad.tensor(b, requires_grad=True)
    for pf, tf in ((lambda x, y: x % y, lambda x, y: x % y), (pygrad.fmod, torch.fmod),
                   (pygrad.atan2, torch.atan2),
                   (lambda x, y: x // y, lambda x, y: torch.div(x, y, rounding_mode="floor"))):
        np.testing.assert_allclose(pf(pa, pb).detach().numpy(), tf(ta, tb).detach().numpy(), rtol=1e-12, atol=1e-12)
    (pa % pb + pygrad.atan2(pa, pb)).sum().backward()
    (ta % tb + torch.atan2(ta, tb)).sum().backward()
    np.testing.assert_allclose(pa.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(pb.grad.numpy(), tb.grad.numpy(), rtol=1e-12)
    ia, ib = rng.integers(-20, 20, 40), rng.integers(1, 6, 40) * np.where(rng.random(40) < 0.5, -1, 1)
    assert (pygrad.tensor(ia) % pygrad.tensor(ib)).tolist() == (torch.tensor(ia) % torch.tensor(ib)).tolist()
    assert (pygrad.tensor(ia) // pygrad.tensor(ib)).tolist() == \
        torch.div(torch.tensor(ia), torch.tensor(ib), rounding_mode="floor").tolist()
    x = np.linspace(-4, 4, 33)
    np.testing.assert_allclose(F.gelu(pygrad.tensor(x), approximate="tanh").numpy(),
                               torch.nn.functional.gelu(torch.tensor(x), approximate="tanh").numpy(),
                               rtol=1e-12, atol=1e-14)  # 1 + tanh(...) cancels for x << 0
