"""Optimizers (fused C updates) against the numpy reference and PyTorch, schedules,
and gradient descent with the notes' stopping rules.

The trajectories are driven by gradients computed here in numpy from the current
parameters (g = sin 3p + 0.1·k·p at step k), so each optimizer is checked on its
own, without the ops that would usually produce the gradients.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pygrad as pg
import pygrad.optim as optim
import pygrad.reference as ref
from pygrad import PygradError, ShapeError
from pygrad.optim import _fused as E

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.02}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "centered": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.95), "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.02, "maximize": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "maximize": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1, "maximize": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CONFIGS]
SHAPES = [(3, 4), (4,), ()]
STEPS = 25


def _grad(p: np.ndarray, k: int) -> np.ndarray:
    return np.sin(3.0 * p) + 0.1 * k * p


def _run(module, name: str, kw: dict, dtype: str, steps: int = STEPS, skip_second_at: int | None = 7):
    """Parameters of SHAPES after each step; parameter 1 has no gradient at step ``skip_second_at``."""
    rng = np.random.default_rng(5)
    params = [module.tensor(rng.standard_normal(s), dtype=dtype, requires_grad=True) for s in SHAPES]
    opt = getattr(module.optim, name)(params, **kw)
    traj = []
    for k in range(steps):
        opt.zero_grad()
        for i, p in enumerate(params):
            if i == 1 and k == skip_second_at:
                continue
            p.grad = module.tensor(_grad(p.numpy().astype(np.float64), k), dtype=dtype)
        opt.step()
        traj.append([p.numpy().copy() for p in params])
    return traj


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=IDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_trajectory_equals_reference(name: str, kw: dict, dtype: str) -> None:
    c = _run(pg, name, kw, dtype)
    r = _run(ref, name, kw, dtype)
    rtol = 1e-12 if dtype == "float64" else 1e-6
    for k, (pc, pr) in enumerate(zip(c, r)):
        for a, b in zip(pc, pr):
            assert a.dtype == b.dtype == np.dtype(dtype)
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=f"{name} {kw} step {k}")


@pytest.mark.parametrize("kw", [{"momentum": 0.9}, {"momentum": 0.9, "nesterov": True},
                                {"momentum": 0.5, "dampening": 0.2, "weight_decay": 0.01}, {}])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sgd_large_parameter_equals_reference_on_any_thread_count(kw: dict, dtype: str) -> None:
    """A parameter large enough for the update to run on several threads (an odd size, so
    the threads' ranges end off the vector width): the reference's values, whatever the
    number of threads."""
    rng = np.random.default_rng(11)
    p0 = rng.standard_normal(70001)
    grads = [rng.standard_normal(70001) for _ in range(4)]
    threads = pg.get_num_threads()
    out = {}
    try:
        for module, nthr in ((ref, 1), (pg, 1), (pg, 2)):
            pg.set_num_threads(nthr)
            p = module.tensor(p0, dtype=dtype, requires_grad=True)
            opt = module.optim.SGD([p], lr=0.1, **kw)
            for g in grads:
                p.grad = module.tensor(g, dtype=dtype)
                opt.step()
            out[(module.__name__, nthr)] = p.numpy().copy()
    finally:
        pg.set_num_threads(threads)
    rtol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(out[("pygrad", 1)], out[("pygrad.reference", 1)], rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(out[("pygrad", 1)], out[("pygrad", 2)])


def _torch_run(name: str, kw: dict, dtype: str):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    tdt = getattr(torch, dtype)
    params = [torch.tensor(rng.standard_normal(s), dtype=tdt, requires_grad=True) for s in SHAPES]
    opt = getattr(torch.optim, name)(params, **kw)
    traj = []
    for k in range(STEPS):
        opt.zero_grad()
        for i, p in enumerate(params):
            if i == 1 and k == 7:
                continue
            p.grad = torch.tensor(_grad(p.detach().numpy().astype(np.float64), k), dtype=tdt)
        opt.step()
        traj.append([p.detach().numpy().copy() for p in params])
    return traj


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=IDS)
def test_trajectory_equals_torch(name: str, kw: dict) -> None:
    t = _torch_run(name, kw, "float64")
    c = _run(pg, name, kw, "float64")
    for k, (pc, pt) in enumerate(zip(c, t)):
        for a, b in zip(pc, pt):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"{name} {kw} step {k}")


def test_sgd_by_hand() -> None:
    """Three steps of momentum SGD on one number, computed by hand."""
    w = pg.tensor(np.array([1.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.5)
    for g, expect in [(2.0, 0.8), (2.0, 0.8 - 0.1 * 3.0), (-1.0, 0.5 - 0.1 * 0.5)]:
        w.grad = pg.tensor(np.array([g]))
        opt.step()
        np.testing.assert_allclose(w.numpy(), [expect], rtol=1e-15)


def test_adam_first_step_moves_by_lr() -> None:
    """With bias correction, Adam's first step is lr·sign(g) (up to eps)."""
    w = pg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    opt = optim.Adam([w], lr=0.01)
    w.grad = pg.tensor(np.array([5.0, -0.1, 1e-3]))
    opt.step()
    np.testing.assert_allclose(w.numpy(), [0.99, -1.99, 2.99], rtol=1e-6)


def test_step_bumps_version_and_records_nothing() -> None:
    w = pg.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    w.grad = pg.ones(3, dtype=pg.float64)
    v0 = w.version
    nodes = pg.live_objects()["nodes"]
    assert pg.is_grad_enabled()
    opt.step()
    assert w.version == v0 + 1
    assert w.is_leaf and w.grad_fn is None and w.requires_grad
    assert pg.live_objects()["nodes"] == nodes


def test_zero_grad() -> None:
    w = pg.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros(3))
    opt.zero_grad()
    assert w.grad is None


def test_parameter_without_grad_is_skipped() -> None:
    a = pg.tensor(np.ones(2), requires_grad=True)
    b = pg.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([a, b], lr=0.5, momentum=0.9)
    a.grad = pg.tensor(np.array([1.0, 2.0]))
    opt.step()
    np.testing.assert_array_equal(a.numpy(), [0.5, 0.0])
    np.testing.assert_array_equal(b.numpy(), [1.0, 1.0])
    assert id(b) not in opt.state


@pytest.mark.parametrize("module", [pg, ref], ids=["c", "reference"])
def test_param_groups_have_their_own_hyperparameters(module) -> None:
    a = module.tensor(np.ones(2), requires_grad=True)
    b = module.tensor(np.ones(2), requires_grad=True)
    opt = module.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    a.grad = module.tensor(np.ones(2))
    b.grad = module.tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.numpy(), [0.9, 0.9])
    np.testing.assert_allclose(b.numpy(), [0.5, 0.5])
    c = module.tensor(np.ones(1), requires_grad=True)
    opt.add_param_group({"params": c, "momentum": 0.9})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.9


@pytest.mark.parametrize("module", [pg, ref], ids=["c", "reference"])
@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_state_dict_round_trip_resumes_exactly(module, name: str) -> None:
    kw = {"SGD": {"lr": 0.1, "momentum": 0.9}, "RMSprop": {"lr": 0.01, "centered": True, "momentum": 0.5},
          "Adam": {"lr": 0.01, "amsgrad": True}}.get(name, {"lr": 0.01})
    rng = np.random.default_rng(0)
    start = rng.standard_normal((2, 3))
    p = module.tensor(start, requires_grad=True)
    opt = getattr(module.optim, name)([p], **kw)
    for k in range(4):
        p.grad = module.tensor(_grad(p.numpy(), k))
        opt.step()
    saved = opt.state_dict()
    q = module.tensor(p.numpy().copy(), requires_grad=True)
    opt2 = getattr(module.optim, name)([q], lr=123.0)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    for k in range(4, 8):
        p.grad = module.tensor(_grad(p.numpy(), k))
        q.grad = module.tensor(_grad(q.numpy(), k))
        opt.step()
        opt2.step()
    np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_load_state_dict_rejects_other_shapes() -> None:
    p = pg.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([p])
    p.grad = pg.tensor(np.ones(3))
    opt.step()
    q = pg.tensor(np.ones(4), requires_grad=True)
    with pytest.raises(ShapeError, match=r"Adam.*\(3,\).*\(4,\)"):
        optim.Adam([q]).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="Adam"):
        optim.Adam([q, p]).load_state_dict(opt.state_dict())


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


def _w() -> pg.Tensor:
    return pg.tensor(np.ones(3), requires_grad=True)


@pytest.mark.parametrize("module", [pg, ref], ids=["c", "reference"])
@pytest.mark.parametrize(("make", "exc", "pattern"), [
    (lambda m, w: m.optim.SGD([w], lr=-0.1), ValueError, r"SGD: invalid learning rate -0\.1"),
    (lambda m, w: m.optim.SGD([w], lr=math.nan), ValueError, r"SGD: invalid learning rate nan"),
    (lambda m, w: m.optim.SGD([w], lr=0.1, momentum=-1), ValueError, r"SGD: invalid momentum"),
    (lambda m, w: m.optim.SGD([w], lr=0.1, nesterov=True), ValueError, r"SGD: Nesterov"),
    (lambda m, w: m.optim.SGD([w], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "Nesterov"),
    (lambda m, w: m.optim.Adam([w], betas=(0.9, 1.0)), ValueError, r"Adam: invalid betas"),
    (lambda m, w: m.optim.AdamW([w], eps=-1.0), ValueError, r"AdamW: invalid eps"),
    (lambda m, w: m.optim.Adagrad([w], lr_decay=-1.0), ValueError, r"Adagrad: invalid lr_decay"),
    (lambda m, w: m.optim.RMSprop([w], alpha=-0.5), ValueError, r"RMSprop: invalid alpha"),
    (lambda m, w: m.optim.SGD([], lr=0.1), ValueError, r"SGD: got an empty parameter list"),
    (lambda m, w: m.optim.SGD(w, lr=0.1), TypeError, r"SGD: params must be an iterable"),
    (lambda m, w: m.optim.SGD([w, w], lr=0.1), ValueError, r"SGD: parameter 1 .* more than one group"),
    (lambda m, w: m.optim.SGD([w * 2.0], lr=0.1), ValueError, r"SGD: parameter 0 .*leaf"),
    (lambda m, w: m.optim.SGD([m.ones(3)], lr=0.1), ValueError, r"SGD: parameter 0 .*requires grad"),
    (lambda m, w: m.optim.SGD([np.ones(3)], lr=0.1), TypeError, r"SGD: parameter 0 is a ndarray"),
])
def test_bad_constructor_arguments(module, make, exc, pattern: str) -> None:
    w = module.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(exc, match=pattern) as info:
        make(module, w)
    assert isinstance(info.value, PygradError)


def test_c_optimizer_refuses_reference_tensors() -> None:
    with pytest.raises(TypeError, match="pygrad.reference.optim"):
        optim.SGD([ref.tensor(np.ones(2), requires_grad=True)], lr=0.1)


@pytest.mark.parametrize(("call", "exc", "pattern"), [
    (lambda: E.sgd_step(_w(), pg.ones(2, dtype=pg.float64), None, 1, 0.1), ShapeError,
     r"sgd_step: the gradient has shape \(2,\) but the parameter has shape \(3,\)"),
    (lambda: E.sgd_step(_w(), pg.ones(3), None, 1, 0.1), TypeError,
     r"sgd_step: the gradient is float32 but the parameter is float64"),
    (lambda: E.sgd_step(_w(), pg.ones(3, dtype=pg.float64), None, 1, 0.1, momentum=0.9), ValueError,
     r"sgd_step: the momentum buffer is NULL"),
    (lambda: E.sgd_step(_w(), pg.ones(3, dtype=pg.float64), pg.zeros(4, dtype=pg.float64), 1, 0.1, momentum=0.9),
     ShapeError, r"sgd_step: the momentum buffer has shape \(4,\) but the parameter has shape \(3,\)"),
    (lambda: E.sgd_step(_w(), pg.ones(3, dtype=pg.float64), None, 0, 0.1), ValueError, r"sgd_step: invalid step 0"),
    (lambda: E.sgd_step(pg.tensor([True, False]), pg.tensor([True, False]), None, 1, 0.1), TypeError,
     r"sgd_step: expected a float32 or float64 tensor, got bool"),
    (lambda: E.sgd_step(_w(), None, None, 1, 0.1), ValueError, r"sgd_step: got a NULL gradient"),
    (lambda: E.sgd_step(_w(), np.ones(3), None, 1, 0.1), TypeError, r"sgd_step: grad must be a pygrad Tensor"),
    (lambda: E.adagrad_step(_w(), pg.ones(3, dtype=pg.float64), pg.zeros(3), 1, 0.1), TypeError,
     r"adagrad_step: the sum buffer is float32 but the parameter is float64"),
    (lambda: E.rmsprop_step(_w(), pg.ones(3, dtype=pg.float64), pg.zeros(3, dtype=pg.float64), None, None, 0.1,
                            centered=True), ValueError, r"rmsprop_step: the grad_avg buffer is NULL"),
    (lambda: E.adam_step(_w(), pg.ones(3, dtype=pg.float64), pg.zeros(3, dtype=pg.float64),
                         pg.zeros(3, 1, dtype=pg.float64), None, 1, 0.1), ShapeError,
     r"adam_step: the exp_avg_sq buffer has shape \(3, 1\)"),
    (lambda: E.adam_step(_w(), pg.ones(3, dtype=pg.float64), pg.zeros(3, dtype=pg.float64),
                         pg.zeros(3, dtype=pg.float64), None, 1, 0.1, beta1=1.5), ValueError,
     r"adam_step: invalid betas"),
    (lambda: E.adam_step(_w(), pg.ones(3, dtype=pg.float64), pg.zeros(3, dtype=pg.float64),
                         pg.zeros(3, dtype=pg.float64), None, 1, 0.1, decoupled_weight_decay=True, amsgrad=True),
     ValueError, r"adamw_step: the max_exp_avg_sq buffer is NULL"),
])
def test_c_update_checks_its_arguments(call, exc, pattern: str) -> None:
    with pytest.raises(exc, match=pattern) as info:
        call()
    assert isinstance(info.value, PygradError)


def test_failed_update_changes_nothing() -> None:
    w = _w()
    v = w.version
    with pytest.raises(ShapeError):
        E.sgd_step(w, pg.ones(2, dtype=pg.float64), None, 1, 0.1)
    np.testing.assert_array_equal(w.numpy(), np.ones(3))
    assert w.version == v


# ---------------------------------------------------------------------------
# learning-rate schedules
# ---------------------------------------------------------------------------

SCHEDULES = [
    ("StepLR", {"step_size": 2, "gamma": 0.5}, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]),
    ("ExponentialLR", {"gamma": 0.9}, [0.9 ** t for t in range(7)]),
    ("CosineAnnealingLR", {"T_max": 4, "eta_min": 0.1},
     [1.0, 0.1 + 0.9 * (1 + math.sqrt(0.5)) / 2, 0.55, 0.1 + 0.9 * (1 - math.sqrt(0.5)) / 2, 0.1,
      0.1 + 0.9 * (1 - math.sqrt(0.5)) / 2, 0.55]),
]


@pytest.mark.parametrize("module", [pg, ref], ids=["c", "reference"])
@pytest.mark.parametrize(("name", "kw", "expect"), SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_values(module, name: str, kw: dict, expect: list[float]) -> None:
    opt = module.optim.SGD([module.tensor(np.ones(1), requires_grad=True)], lr=1.0)
    sched = getattr(module.optim, name)(opt, **kw)
    got = []
    for _ in expect:
        got.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr() == [got[-1]]
        opt.step()
        sched.step()
    np.testing.assert_allclose(got, expect, rtol=1e-12)


@pytest.mark.parametrize(("name", "kw", "expect"), SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_equals_torch(name: str, kw: dict, expect: list[float]) -> None:
    torch = pytest.importorskip("torch")
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    opt = optim.SGD([pg.zeros(1, requires_grad=True)], lr=0.3)
    sched = getattr(optim, name)(opt, **kw)
    for _ in range(12):
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
        topt.step()
        tsched.step()
        sched.step()


def test_schedule_state_dict_and_bad_arguments() -> None:
    opt = optim.SGD([pg.zeros(1, requires_grad=True)], lr=1.0)
    s = optim.StepLR(opt, step_size=3)
    for _ in range(4):
        s.step()
    saved = s.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 4
    s2 = optim.StepLR(optim.SGD([pg.zeros(1, requires_grad=True)], lr=1.0), step_size=1)
    s2.load_state_dict(saved)
    assert s2.last_epoch == 4 and s2.step_size == 3
    with pytest.raises(ValueError, match="StepLR: step_size"):
        optim.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max"):
        optim.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(TypeError, match="StepLR: expected an optimizer"):
        optim.StepLR(object(), step_size=1)


# ---------------------------------------------------------------------------
# minimize: gradient descent with the notes' stopping rules (seed 004)
# ---------------------------------------------------------------------------


def _notes_f(x):
    """Seed 004: f = x1² + x1(1 - x2) + x2² - x2·x3 + x3² + x3."""
    x1, x2, x3 = x[0], x[1], x[2]
    return x1 * x1 + x1 * (1.0 - x2) + x2 * x2 - x2 * x3 + x3 * x3 + x3


@pytest.mark.parametrize("module", [pg, ref], ids=["c", "reference"])
def test_minimize_finds_the_notes_minimum(module) -> None:
    # ∇f = H x + b with H = [[2,-1,0],[-1,2,-1],[0,-1,2]] and b = (1, 0, 1); the
    # minimum solves H x = -b: x* = (-1, -1, -1), f(x*) = -1. (The notes print
    # (-1, 1, 1) and then (0, 1, 1): the linear algebra gives (-1, -1, -1).)
    H = np.array([[2.0, -1, 0], [-1, 2, -1], [0, -1, 2]])
    x_star = np.linalg.solve(H, -np.array([1.0, 0.0, 1.0]))
    np.testing.assert_allclose(x_star, [-1, -1, -1], rtol=1e-14)
    r = module.optim.minimize(_notes_f, [0.0, 0.0, 0.0], lr=0.2, tol=0.0, gtol=1e-9)
    assert r.reason == "gtol" and r.converged
    np.testing.assert_allclose(r.x, x_star, atol=1e-8)
    assert r.fun == pytest.approx(-1.0, abs=1e-15)
    assert r.grad_norm < 1e-9
    assert len(r.history) == r.nit + 1
    # at this lr (below 2 / λmax = 2 / (2 + √2)) the value never goes up, up to rounding near the minimum
    assert all(a >= b - 1e-14 for a, b in zip(r.history, r.history[1:]))


@pytest.mark.parametrize("module", [pg, ref], ids=["c", "reference"])
def test_minimize_stopping_rules(module) -> None:
    quad = lambda x: ((x - 3.0) ** 2).sum()  # noqa: E731
    r = module.optim.minimize(quad, [0.0], lr=0.1, tol=1e-3, gtol=0.0)
    assert r.reason == "tol"
    assert abs(r.history[-1] - r.history[-2]) < 1e-3 <= abs(r.history[-2] - r.history[-3])
    r = module.optim.minimize(quad, [0.0], lr=0.1, max_iter=3, tol=0.0, gtol=0.0)
    assert r.reason == "max_iter" and r.nit == 3 and not r.converged
    # x_k = 3 - 3 (0.8)^k: each step removes 20% of the distance to 3
    np.testing.assert_allclose(r.x, [3 - 3 * 0.8 ** 3], rtol=1e-14)
    r = module.optim.minimize(quad, [3.0], lr=0.1, gtol=1e-12)
    assert r.reason == "gtol" and r.nit == 0
    r = module.optim.minimize(lambda x: (x * x).sum(), [1.0], lr=1.5, tol=0.0, gtol=0.0)
    assert r.reason == "nonfinite" and not r.converged


@pytest.mark.parametrize("module", [pg, ref], ids=["c", "reference"])
def test_minimize_bad_arguments(module) -> None:
    with pytest.raises(ValueError, match="minimize: lr"):
        module.optim.minimize(lambda x: x.sum(), [1.0], lr=0.0)
    with pytest.raises(ValueError, match="minimize: max_iter"):
        module.optim.minimize(lambda x: x.sum(), [1.0], max_iter=-1)
    with pytest.raises(TypeError, match="minimize: f must return a one-element Tensor"):
        module.optim.minimize(lambda x: x * 2.0, [1.0, 2.0])


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adam"])
def test_state_dict_moves_between_engines(name: str) -> None:
    """A C optimizer's state_dict (numpy arrays) resumes on the reference optimizer, and back."""
    kw = {"SGD": {"lr": 0.1, "momentum": 0.9}, "RMSprop": {"lr": 0.01, "momentum": 0.5, "centered": True},
          "Adam": {"lr": 0.01}}[name]
    start = np.random.default_rng(1).standard_normal(4)
    c = pg.tensor(start, requires_grad=True)
    oc = getattr(optim, name)([c], **kw)
    for k in range(3):
        c.grad = pg.tensor(_grad(c.numpy(), k))
        oc.step()
    r = ref.tensor(c.numpy().copy(), requires_grad=True)
    orr = getattr(ref.optim, name)([r], **kw)
    orr.load_state_dict(oc.state_dict())
    c2 = pg.tensor(c.numpy().copy(), requires_grad=True)
    oc2 = getattr(optim, name)([c2], **kw)
    oc2.load_state_dict(orr.state_dict())
    for k in range(3, 6):
        for p, o, mod in ((c, oc, pg), (r, orr, ref), (c2, oc2, pg)):
            p.grad = mod.tensor(_grad(p.numpy(), k))
            o.step()
    np.testing.assert_array_equal(c.numpy(), r.numpy())
    np.testing.assert_array_equal(c.numpy(), c2.numpy())
