"""ConstantLR, PolynomialLR, MultiplicativeLR, CosineAnnealingWarmRestarts and CyclicLR: the rates
(and cycled momentum) against PyTorch's schedulers step by step, against the closed forms without
PyTorch, on both engines' optimizers, and their argument errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradTypeError, PygradValueError

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]


def _opt(m, lr=0.1, **kw):
    return m.optim.SGD([m.zeros(2, requires_grad=True)], lr=lr, momentum=0.9, **kw)


def _rates(sched, opt, n, per_step=None):
    out = []
    for t in range(n):
        out.append((opt.param_groups[0]["lr"], opt.param_groups[0].get("momentum")))
        sched.step() if per_step is None else sched.step(per_step(t))
    return out


@pytest.mark.parametrize("m", ENGINES)
def test_closed_forms(m):
    S = m.optim.lr_scheduler
    o = _opt(m)
    assert [r for r, _ in _rates(S.ConstantLR(o, factor=0.5, total_iters=3), o, 5)] == [0.05] * 3 + [0.1] * 2
    o = _opt(m)
    got = [r for r, _ in _rates(S.PolynomialLR(o, total_iters=4, power=2.0), o, 6)]
    np.testing.assert_allclose(got, [0.1 * (1 - min(t, 4) / 4) ** 2 for t in range(6)], rtol=1e-15)
    o = _opt(m)
    got = [r for r, _ in _rates(S.MultiplicativeLR(o, lambda t: 0.5 if t % 2 else 1.0), o, 5)]
    np.testing.assert_allclose(got, [0.1, 0.05, 0.05, 0.025, 0.025], rtol=1e-15)
    o = _opt(m)
    got = [r for r, _ in _rates(S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01), o, 10)]
    periods = [(0, 3), (1, 3), (2, 3), (0, 6), (1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (0, 12)]
    want = [0.01 + 0.09 * (1 + math.cos(math.pi * c / ti)) / 2 for c, ti in periods]
    np.testing.assert_allclose(got, want, rtol=1e-14)
    o = _opt(m)
    sched = S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2, step_size_down=3, mode="triangular2")
    got = _rates(sched, o, 11)
    tri = [0, 0.5, 1, 2 / 3, 1 / 3, 0, 0.5, 1, 2 / 3, 1 / 3, 0]
    scale = [1] * 5 + [0.5] * 5 + [0.25]
    np.testing.assert_allclose([r for r, _ in got], [0.01 + 0.09 * a * s for a, s in zip(tri, scale)], rtol=1e-14)
    np.testing.assert_allclose([mo for _, mo in got], [0.9 - 0.1 * a * s for a, s in zip(tri, scale)], rtol=1e-14)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_against_pytorch():
    torch = pytest.importorskip("torch")
    TS = torch.optim.lr_scheduler
    PS = pygrad.optim.lr_scheduler
    cases = [
        (lambda o, S: S.ConstantLR(o, factor=0.25, total_iters=4), 8, None),
        (lambda o, S: S.PolynomialLR(o, total_iters=5, power=0.5), 8, None),
        (lambda o, S: S.MultiplicativeLR(o, lambda t: 0.9), 6, None),
        (lambda o, S: S.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2, eta_min=1e-3), 20, None),
        (lambda o, S: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2), 12, lambda t: t * 0.7),
        (lambda o, S: S.CyclicLR(o, 1e-3, 1e-1, step_size_up=3, mode="exp_range", gamma=0.95), 20, None),
        (lambda o, S: S.CyclicLR(o, 1e-3, 1e-1, step_size_up=2, mode="triangular"), 12, None),
    ]
    for make, n, per_step in cases:
        to = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1, momentum=0.9)
        po = pygrad.optim.SGD([pygrad.zeros(2, requires_grad=True)], lr=0.1, momentum=0.9)
        ts, ps = make(to, TS), make(po, PS)
        for t in range(n):
            assert po.param_groups[0]["lr"] == pytest.approx(to.param_groups[0]["lr"], rel=1e-12, abs=1e-15), t
            assert po.param_groups[0]["momentum"] == pytest.approx(to.param_groups[0]["momentum"], rel=1e-12), t
            if per_step is None:
                ts.step()
                ps.step()
            else:
                ts.step(per_step(t))
                ps.step(per_step(t))


@pytest.mark.parametrize("m", ENGINES)
def test_cyclic_momentum_on_adam_and_errors(m):
    S = m.optim.lr_scheduler
    adam = m.optim.Adam([m.zeros(2, requires_grad=True)], lr=0.1)
    S.CyclicLR(adam, 0.01, 0.1, step_size_up=2, base_momentum=0.8, max_momentum=0.9)
    assert adam.param_groups[0]["betas"][0] == pytest.approx(0.9)
    plain = m.optim.Adagrad([m.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(PygradValueError, match="CyclicLR: the optimizer has no momentum or betas"):
        S.CyclicLR(plain, 0.01, 0.1)
    S.CyclicLR(plain, 0.01, 0.1, cycle_momentum=False)
    for call, exc, msg in (
        (lambda: S.ConstantLR(_opt(m), factor=2.0), PygradValueError, "ConstantLR: factor must be in"),
        (lambda: S.PolynomialLR(_opt(m), total_iters=0), PygradValueError, "PolynomialLR: total_iters must be"),
        (lambda: S.MultiplicativeLR(_opt(m), 3), PygradTypeError, "MultiplicativeLR: lr_lambda must be"),
        (lambda: S.CosineAnnealingWarmRestarts(_opt(m), T_0=0), PygradValueError, "T_0 must be an int >= 1"),
        (lambda: S.CyclicLR(_opt(m), 0.01, 0.1, mode="sine"), PygradValueError, "CyclicLR: mode must be"),
        (lambda: S.CyclicLR(_opt(m), [0.1, 0.2], 0.1), PygradValueError, "2 base_lr values for 1 parameter"),
    ):
        with pytest.raises(exc, match=msg):
            call()
    w = S.CosineAnnealingWarmRestarts(_opt(m), T_0=2)
    with pytest.raises(PygradValueError, match="epoch must be a non-negative number"):
        w.step(-1)
