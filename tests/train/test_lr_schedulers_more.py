"""LambdaLR, MultiStepLR, LinearLR, OneCycleLR, SequentialLR, ReduceLROnPlateau:
hand-derived rates, state_dict round trips, bad arguments, and (when PyTorch is
installed) the same schedule as torch.optim.lr_scheduler step by step."""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest

import pygrad
from pygrad import optim


def _opt(lr: float = 0.1, groups: int = 1) -> Any:
    ps = [pygrad.zeros(2, requires_grad=True) for _ in range(groups)]
    return optim.SGD([{"params": [p]} for p in ps], lr=lr) if groups > 1 else optim.SGD(ps, lr=lr)


def _rates(sched: Any, opt: Any, n: int, metric: Callable[[int], float] | None = None) -> list[float]:
    out = []
    for t in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(metric(t)) if metric else sched.step()
    return out


def test_lambda_multistep_linear_by_hand() -> None:
    o = _opt(0.1)
    assert _rates(optim.LambdaLR(o, lambda t: 1.0 / (t + 1)), o, 4) == pytest.approx([0.1, 0.05, 0.1 / 3, 0.025])
    o = _opt(1.0)
    assert _rates(optim.MultiStepLR(o, [2, 4, 4], gamma=0.5), o, 6) == pytest.approx([1, 1, 0.5, 0.5, 0.125, 0.125])
    o = _opt(1.0)
    assert _rates(optim.LinearLR(o, start_factor=0.25, total_iters=3), o, 5) == pytest.approx([0.25, 0.5, 0.75, 1, 1])


def test_one_cycle_shape() -> None:
    o = _opt(0.1)
    s = optim.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=0.3)
    lrs = [o.param_groups[0]["lr"]]
    for _ in range(9):
        s.step()
        lrs.append(o.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(1.0 / 25)
    assert max(lrs) == pytest.approx(1.0) and lrs.index(max(lrs)) == 2
    assert lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))
    s.step()  # the step after the last one is allowed (PyTorch), the next is not
    with pytest.raises(ValueError, match="total_steps"):
        s.step()


def test_sequential_warmup_then_cosine() -> None:
    o = _opt(1.0)
    warm = optim.LinearLR(o, start_factor=0.5, total_iters=2)
    cos = optim.CosineAnnealingLR(o, T_max=4)
    s = optim.SequentialLR(o, [warm, cos], milestones=[2])
    lrs = _rates(s, o, 7)
    want = [0.5, 0.75] + [(1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    assert lrs == pytest.approx(want)


def test_reduce_on_plateau() -> None:
    o = _opt(1.0)
    s = optim.ReduceLROnPlateau(o, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    losses = [5, 4, 4, 4, 4, 4, 4, 4, 4, 4]
    lrs = []
    for v in losses:
        s.step(v)
        lrs.append(o.param_groups[0]["lr"])
    assert lrs == pytest.approx([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2])
    s2 = optim.ReduceLROnPlateau(_opt(1.0))
    s2.load_state_dict(s.state_dict())
    assert s2.best == 4 and s2.cooldown_counter == s.cooldown_counter


def test_state_dict_round_trip_resumes() -> None:
    o1 = _opt(1.0)
    s1 = optim.MultiStepLR(o1, [3], gamma=0.1)
    for _ in range(2):
        s1.step()
    o2 = _opt(1.0)
    s2 = optim.MultiStepLR(o2, [3], gamma=0.1)
    s2.load_state_dict(s1.state_dict())
    s1.step()
    s2.step()
    assert s1.get_last_lr() == s2.get_last_lr() == pytest.approx([0.1])


def test_bad_arguments() -> None:
    o = _opt()
    with pytest.raises(TypeError, match="LambdaLR"):
        optim.LambdaLR(o, 3)
    with pytest.raises(ValueError, match="start_factor"):
        optim.LinearLR(o, start_factor=0.0)
    with pytest.raises(ValueError, match="epochs and steps_per_epoch"):
        optim.OneCycleLR(o, max_lr=1.0)
    with pytest.raises(ValueError, match="milestones"):
        optim.SequentialLR(o, [optim.LinearLR(o), optim.LinearLR(o)], milestones=[])
    with pytest.raises(ValueError, match="factor"):
        optim.ReduceLROnPlateau(o, factor=1.5)


@pytest.mark.parametrize("case", ["lambda", "multistep", "linear", "onecycle", "onecycle-linear-3phase",
                                  "sequential", "plateau"])
def test_against_pytorch(case: str) -> None:
    torch = pytest.importorskip("torch")

    def build(o: Any, lib: Any) -> Any:
        L = lib.lr_scheduler if lib is torch.optim else lib
        if case == "lambda":
            return L.LambdaLR(o, lambda t: 0.9 ** t + 0.1)
        if case == "multistep":
            return L.MultiStepLR(o, [3, 5], gamma=0.3)
        if case == "linear":
            return L.LinearLR(o, start_factor=0.1, end_factor=0.8, total_iters=6)
        if case == "onecycle":
            return L.OneCycleLR(o, max_lr=2.0, epochs=3, steps_per_epoch=5)
        if case == "onecycle-linear-3phase":
            return L.OneCycleLR(o, max_lr=2.0, total_steps=15, anneal_strategy="linear", three_phase=True)
        if case == "sequential":
            return L.SequentialLR(o, [L.LinearLR(o, start_factor=0.2, total_iters=3),
                                      L.CosineAnnealingLR(o, T_max=8, eta_min=0.01)], milestones=[3])
        return L.ReduceLROnPlateau(o, factor=0.3, patience=2, threshold=0.01, cooldown=1)

    metric = (lambda t: [3, 2, 2, 2, 2, 1.99, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5][t]) if case == "plateau" else None
    tp = torch.zeros(2, requires_grad=True)
    to = torch.optim.SGD([tp], lr=0.5, momentum=0.9)
    ts = build(to, torch.optim)
    po = optim.SGD([pygrad.zeros(2, requires_grad=True)], lr=0.5, momentum=0.9)
    ps = build(po, optim)
    for t in range(14):
        assert po.param_groups[0]["lr"] == pytest.approx(to.param_groups[0]["lr"], rel=1e-12), (case, t)
        assert po.param_groups[0]["momentum"] == pytest.approx(to.param_groups[0]["momentum"], rel=1e-12), (case, t)
        to.step()
        if metric:
            ts.step(metric(t))
            ps.step(metric(t))
        else:
            ts.step()
            ps.step()
