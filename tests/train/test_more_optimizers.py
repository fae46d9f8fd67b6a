"""Adamax, NAdam, RAdam, Adadelta and Rprop on both engines: trajectories against PyTorch's optimizers
(float64 and float32, several steps, weight decay, maximize and non-default arguments), the C kernels
against the reference's numpy rules over many steps, a descent check without PyTorch, state_dict round
trips, compiled steps bit-identical to eager ones, and argument errors (Python and C)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad.errors import PygradValueError

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]
CASES = [
    ("Adamax", {}), ("Adamax", {"lr": 0.01, "weight_decay": 0.1, "betas": (0.8, 0.99)}),
    ("NAdam", {}), ("NAdam", {"weight_decay": 0.05, "momentum_decay": 1e-2}),
    ("NAdam", {"weight_decay": 0.05, "decoupled_weight_decay": True}),
    ("RAdam", {}), ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adadelta", {}), ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.01}),
    ("Rprop", {}), ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-4, 0.2)}),
    ("Adamax", {"maximize": True, "weight_decay": 0.1}),
    ("NAdam", {"maximize": True, "weight_decay": 0.05, "decoupled_weight_decay": True}),
    ("RAdam", {"maximize": True, "weight_decay": 0.1}), ("Adadelta", {"maximize": True, "weight_decay": 0.01}),
    ("Rprop", {"maximize": True, "lr": 0.0123}),
]
NAMES = ["Adamax", "NAdam", "RAdam", "Adadelta", "Rprop"]
# maximize in the first five optimizers (their other settings: tests/train/test_optim.py)
MAXIMIZE = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "maximize": True}),
    ("Adagrad", {"lr": 0.05, "weight_decay": 0.01, "maximize": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "maximize": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.01, "amsgrad": True, "maximize": True}),
    ("AdamW", {"lr": 0.01, "maximize": True}),
]


def _loss(m, w, x, sign=1.0):
    return (((x @ w).tanh() ** 2).sum() + (w * w).sum() * 0.1) * sign


def _step(opt, w, b, x, sign=1.0):
    """A training step: zero_grad, the loss of w (and b), backward, opt.step(); returns the loss."""

    def step():
        opt.zero_grad()
        loss = _loss(pygrad, w, x, sign)
        if b is not None:
            loss = loss + (b * b).sum() * sign
        loss.backward()
        opt.step()
        return loss

    return step


def _ids(cases):
    return [f"{n}-{i}" for i, (n, _) in enumerate(cases)]


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("name,kw", CASES, ids=_ids(CASES))
def test_against_pytorch(m, name, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0, x0 = rng.standard_normal((4, 3)), rng.standard_normal((6, 4))
    tw = torch.tensor(w0, requires_grad=True)
    topt = getattr(torch.optim, name)([tw], **kw)
    pw = m.tensor(w0, dtype=m.float64, requires_grad=True)
    popt = getattr(m.optim, name)([pw], **kw)
    tx, px = torch.tensor(x0), m.tensor(x0, dtype=m.float64)
    sign = -1.0 if kw.get("maximize") else 1.0
    for _ in range(12):
        topt.zero_grad()
        ((((tx @ tw).tanh() ** 2).sum() + (tw * tw).sum() * 0.1) * sign).backward()
        topt.step()
        popt.zero_grad()
        _loss(m, pw, px, sign).backward()
        popt.step()
    # PyTorch keeps NAdam's running product of μ in a float32 tensor: a relative 1e-9 apart after 12 steps
    rtol = 1e-8 if name == "NAdam" else 1e-10
    np.testing.assert_allclose(pw.numpy(), tw.detach().numpy(), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("name", ["Adamax", "NAdam", "RAdam", "Adadelta", "Rprop"])
def test_descends_and_state_dict_resumes(m, name):
    rng = np.random.default_rng(1)
    w0, x0 = rng.standard_normal((4, 3)), rng.standard_normal((6, 4))
    lr = {"Adadelta": 5.0}.get(name, 0.05)
    x = m.tensor(x0, dtype=m.float32)
    w = m.tensor(w0, dtype=m.float32, requires_grad=True)
    opt = getattr(m.optim, name)([w], lr=lr)
    start = float(_loss(m, w, x))
    for _ in range(30):
        opt.zero_grad()
        _loss(m, w, x).backward()
        opt.step()
    assert float(_loss(m, w, x)) < start
    assert w.dtype == m.float32 and w.is_leaf and w.requires_grad
    # a copy resumed from state_dict continues exactly as the original
    w2 = m.tensor(w.numpy().copy(), requires_grad=True)
    opt2 = getattr(m.optim, name)([w2], lr=lr)
    opt2.load_state_dict(opt.state_dict())
    for o, t in ((opt, w), (opt2, w2)):
        for _ in range(3):
            o.zero_grad()
            _loss(m, t, x).backward()
            o.step()
    np.testing.assert_array_equal(w2.numpy(), w.numpy())


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("name,kw", CASES, ids=_ids(CASES))
def test_against_pytorch_float32(m, name, kw):
    """float32: PyTorch rounds each intermediate to float32, pygrad once per stored value."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((5, 7)).astype(np.float32)
    grads = rng.standard_normal((10, 5, 7)).astype(np.float32)
    tw = torch.tensor(w0, requires_grad=True)
    topt = getattr(torch.optim, name)([tw], **kw)
    pw = m.tensor(w0, requires_grad=True)
    popt = getattr(m.optim, name)([pw], **kw)
    for g in grads:
        tw.grad = torch.tensor(g)
        topt.step()
        pw.grad = m.tensor(g)
        popt.step()
    assert pw.dtype == m.float32
    np.testing.assert_allclose(pw.numpy(), tw.detach().numpy(), rtol=2e-5, atol=2e-6)


MANY = CASES + [("NAdam", {"betas": (0.0, 0.5), "eps": 1e-3}), ("RAdam", {"betas": (0.5, 0.6)}),
                ("Adadelta", {"rho": 1.0}), ("Rprop", {"step_sizes": (0.0, 1e-3)})]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kw", MANY, ids=_ids(MANY))
def test_c_kernels_match_reference(name, kw, dtype):
    """60 steps of random gradients (Rprop's signs flip often) on two groups, the C kernels against
    the reference's numpy rules: the same arithmetic in the same order, so the same values."""
    rng = np.random.default_rng(4)
    w0, b0 = rng.standard_normal((33, 17)), rng.standard_normal(17)
    grads = rng.standard_normal((60, 33 * 17 + 17)) * np.logspace(-3, 1, 60)[:, None]
    out = []
    for m in (pygrad, ref):
        dt = getattr(m, dtype)
        w = m.tensor(w0, dtype=dt, requires_grad=True)
        b = m.tensor(b0, dtype=dt, requires_grad=True)
        opt = getattr(m.optim, name)([{"params": [w]}, {"params": [b], "lr": 0.5 * opt_lr(name, kw)}], **kw)
        for g in grads:
            w.grad = m.tensor(g[:-17].reshape(33, 17), dtype=dt)
            b.grad = m.tensor(g[-17:], dtype=dt)
            opt.step()
        state = opt.state_dict()["state"]
        out.append((w.numpy(), b.numpy(), state))
    (w1, b1, s1), (w2, b2, s2) = out
    tol = {"float32": 1e-6, "float64": 1e-13}[dtype]
    np.testing.assert_allclose(w1, w2, rtol=tol, atol=tol)
    np.testing.assert_allclose(b1, b2, rtol=tol, atol=tol)
    for i in (0, 1):
        assert sorted(s1[i]) == sorted(s2[i])
        for k, v in s1[i].items():
            np.testing.assert_allclose(v, s2[i][k], rtol=tol, atol=tol, err_msg=k)
            if isinstance(v, np.ndarray):
                assert v.dtype == np.dtype(dtype)


EVERY = MAXIMIZE + MANY + [
    ("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.2, "weight_decay": 0.02}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "maximize": True}),
    ("Adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1}), ("RMSprop", {}),
    ("RMSprop", {"centered": True, "weight_decay": 0.1}), ("RMSprop", {"momentum": 0.9, "maximize": True}),
    ("Adam", {"weight_decay": 0.1}), ("AdamW", {"weight_decay": 0.1, "amsgrad": True}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kw", EVERY, ids=_ids(EVERY))
def test_c_kernels_are_the_reference_bit_for_bit(name, kw, dtype):
    """A parameter long enough to be split between threads, of an odd size (the vector loops end
    on a remainder): twelve steps of the C kernel, on one thread and on two, give the reference's
    parameter and state bit for bit. Both evaluate the same IEEE operations in the same order, in
    double precision, and the vector square root and division round as the scalar ones do."""
    rng = np.random.default_rng(8)
    n = 100003
    w0 = rng.standard_normal(n)
    grads = rng.standard_normal((12, n)) * np.logspace(-3, 1, 12)[:, None]
    grads[3, ::7] = 0.0  # Rprop: zero products; Adagrad, Adadelta: steps of 0
    threads = pygrad.get_num_threads()
    out = []
    try:
        for m, nthr in ((ref, 1), (pygrad, 1), (pygrad, 2)):
            pygrad.set_num_threads(nthr)
            dt = getattr(m, dtype)
            w = m.tensor(w0, dtype=dt, requires_grad=True)
            opt = getattr(m.optim, name)([w], **kw)
            for g in grads:
                w.grad = m.tensor(g, dtype=dt)
                opt.step()
            out.append((w.numpy().copy(), opt.state_dict()["state"][0]))
    finally:
        pygrad.set_num_threads(threads)
    (w_ref, s_ref), *runs = out
    for w, st in runs:
        assert w.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(w, w_ref)
        assert sorted(st) == sorted(s_ref)
        for k, v in st.items():
            np.testing.assert_array_equal(v, s_ref[k], err_msg=k)


def opt_lr(name, kw):
    return kw.get("lr", {"Adamax": 2e-3, "NAdam": 2e-3, "RAdam": 1e-3, "Adadelta": 1.0, "Rprop": 1e-2}[name])


def test_rprop_sizes_start_at_lr_in_the_dtype():
    for m in (pygrad, ref):
        w = m.zeros(3, requires_grad=True)
        opt = m.optim.Rprop([w], lr=0.1, etas=(0.5, 1.2))
        w.grad = m.tensor([1.0, -1.0, 0.0])
        opt.step()
        size = opt.state_dict()["state"][0]["step_size"]
        assert size.dtype == np.float32
        np.testing.assert_array_equal(size, np.float32(0.1))
        np.testing.assert_array_equal(w.numpy(), [-np.float32(0.1), np.float32(0.1), 0.0])


@pytest.mark.parametrize("name,kw", CASES + MAXIMIZE, ids=_ids(CASES + MAXIMIZE))
def test_compiled_steps_are_eager_steps(name, kw):
    """100 compiled training steps (two parameter groups, the learning rate changed halfway) equal
    100 eager ones bit for bit, and the step records (no fallback)."""
    rng = np.random.default_rng(2)
    w0, x0 = rng.standard_normal((4, 3)), rng.standard_normal((6, 4))
    sign = -1.0 if kw.get("maximize") else 1.0
    x = pygrad.tensor(x0, dtype=pygrad.float32)
    runs = []
    for compiled in (False, True):
        w = pygrad.tensor(w0, dtype=pygrad.float32, requires_grad=True)
        b = pygrad.zeros(3, requires_grad=True)
        opt = getattr(pygrad.optim, name)([{"params": [w]}, {"params": [b]}], **kw)
        step = _step(opt, w, b, x, sign)
        fn = pygrad.compile(step, fullgraph=True) if compiled else step
        losses = []
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for i in range(100):
                if i == 50:
                    opt.param_groups[1]["lr"] = opt.param_groups[1]["lr"] * 0.5
                losses.append(fn().numpy().copy())
        if compiled:
            assert fn.records == 1
            assert f"{name.lower().replace('adamw', 'adam')}_step(" in fn.program
        runs.append((w.numpy(), b.numpy(), np.array(losses), opt.state_dict()["state"]))
    (w1, b1, l1, s1), (w2, b2, l2, s2) = runs
    np.testing.assert_array_equal(w2, w1)
    np.testing.assert_array_equal(b2, b1)
    np.testing.assert_array_equal(l2, l1)
    for i in (0, 1):
        for k, v in s1[i].items():
            np.testing.assert_array_equal(s2[i][k], v, err_msg=k)


def test_compiled_step_follows_a_subclass_and_a_reload():
    """A subclass overriding _update takes the dry run; a state_dict reload records again."""

    class MyNAdam(pygrad.optim.NAdam):
        def _update(self, p, grad, state, g):
            super()._update(p, grad, state, g)

    rng = np.random.default_rng(5)
    x = pygrad.tensor(rng.standard_normal((6, 4)), dtype=pygrad.float32)
    w0 = rng.standard_normal((4, 3)).astype(np.float32)
    res = []
    for compiled in (False, True):
        w = pygrad.tensor(w0, requires_grad=True)
        opt = MyNAdam([w], lr=0.05, weight_decay=0.01)
        step = _step(opt, w, None, x)
        fn = pygrad.compile(step) if compiled else step
        for i in range(20):
            if i == 10:
                opt.load_state_dict(opt.state_dict())
            fn()
        res.append(w.numpy())
    np.testing.assert_array_equal(res[1], res[0])


@pytest.mark.parametrize("m", ENGINES)
def test_errors(m):
    p = [m.zeros(2, requires_grad=True)]
    for call, msg in ((lambda: m.optim.Adamax(p, lr=-1), "Adamax: invalid learning rate -1"),
                      (lambda: m.optim.NAdam(p, betas=(0.9, 1.0)), "NAdam: invalid betas"),
                      (lambda: m.optim.RAdam(p, eps=-1e-8), "RAdam: invalid eps"),
                      (lambda: m.optim.Adadelta(p, rho=1.5), "Adadelta: invalid rho 1.5"),
                      (lambda: m.optim.Rprop(p, etas=(1.2, 0.5)), "Rprop: invalid etas"),
                      (lambda: m.optim.Rprop(p, step_sizes=(1.0, 0.1)), "Rprop: invalid step_sizes")):
        with pytest.raises(PygradValueError, match=msg):
            call()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_errors(dtype):
    """The C kernels' own checks (pygrad.optim._fused), named by op."""
    from pygrad.errors import PygradTypeError, ShapeError
    from pygrad.optim import _fused

    dt = getattr(pygrad, dtype)
    other = pygrad.float64 if dtype == "float32" else pygrad.float32
    p, g, s1, s2 = (pygrad.zeros(3, dtype=dt) for _ in range(4))
    before = p.numpy().copy()
    for call, exc, msg in (
            (lambda: _fused.adamax_step(p, pygrad.zeros(3, dtype=other), s1, s2, 1, 0.1), PygradTypeError,
             "adamax_step: the gradient is"),
            (lambda: _fused.adamax_step(p, g, s1, pygrad.zeros(4, dtype=dt), 1, 0.1), ShapeError,
             r"adamax_step: the exp_inf buffer has shape \(4,\) but the parameter has shape \(3,\)"),
            (lambda: _fused.adamax_step(p, g, s1, s2, 0, 0.1), PygradValueError, "adamax_step: invalid step 0"),
            (lambda: _fused.nadam_step(p, g, s1, s2, 1, 1.5, 0.1), PygradValueError, "nadam_step: invalid mu_product"),
            (lambda: _fused.nadam_step(p, g, None, s2, 1, 0.5, 0.1), PygradValueError, "nadam_step: the exp_avg"),
            (lambda: _fused.radam_step(p, g, s1, s2, 1, 0.1, beta2=1.0), PygradValueError, "radam_step: invalid betas"),
            (lambda: _fused.radam_step(p, g, s1, s2, 1, float("nan")), PygradValueError,
             "radam_step: invalid learning rate"),
            (lambda: _fused.adadelta_step(p, g, s1, s2, rho=-0.1), PygradValueError, "adadelta_step: invalid rho"),
            (lambda: _fused.adadelta_step(p, g, s1, "x"), PygradTypeError, "adadelta_step: acc_delta must be"),
            (lambda: _fused.rprop_step(p, g, s1, s2, etaminus=1.0), PygradValueError, "rprop_step: invalid etas"),
            (lambda: _fused.rprop_step(p, g, s1, s2, step_size_min=-1.0), PygradValueError,
             "rprop_step: invalid step_sizes")):
        with pytest.raises(exc, match=msg):
            call()
    np.testing.assert_array_equal(p.numpy(), before)


@pytest.mark.parametrize("m", ENGINES)
def test_maximize_ascends(m):
    for name in ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", *NAMES]:
        w = m.tensor([0.5, -0.3], dtype=m.float64, requires_grad=True)
        opt = getattr(m.optim, name)([w], lr={"Adadelta": 10.0}.get(name, 0.05), maximize=True)
        start = float(-(w * w).sum())
        for _ in range(10):
            opt.zero_grad()
            (-(w * w).sum()).backward()
            opt.step()
        assert float(-(w * w).sum()) > start, name
        assert opt.param_groups[0]["maximize"] is True
