"""Adamax, NAdam, RAdam, Adadelta and Rprop on both engines: trajectories against PyTorch's optimizers
(float64, several steps, weight decay and non-default arguments), a descent check without PyTorch,
state_dict round trips, compile's fallback, and argument errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad._compile import CompileWarning
from pygrad.errors import PygradValueError

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]
CASES = [
    ("Adamax", {}), ("Adamax", {"lr": 0.01, "weight_decay": 0.1, "betas": (0.8, 0.99)}),
    ("NAdam", {}), ("NAdam", {"weight_decay": 0.05, "momentum_decay": 1e-2}),
    ("NAdam", {"weight_decay": 0.05, "decoupled_weight_decay": True}),
    ("RAdam", {}), ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adadelta", {}), ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.01}),
    ("Rprop", {}), ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-4, 0.2)}),
]


def _loss(m, w, x):
    return ((x @ w).tanh() ** 2).sum() + (w * w).sum() * 0.1


@pytest.mark.parametrize("m", ENGINES)
@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_against_pytorch(m, name, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0, x0 = rng.standard_normal((4, 3)), rng.standard_normal((6, 4))
    tw = torch.tensor(w0, requires_grad=True)
    topt = getattr(torch.optim, name)([tw], **kw)
    pw = m.tensor(w0, dtype=m.float64, requires_grad=True)
    popt = getattr(m.optim, name)([pw], **kw)
    tx, px = torch.tensor(x0), m.tensor(x0, dtype=m.float64)
    for _ in range(12):
        topt.zero_grad()
        (((tx @ tw).tanh() ** 2).sum() + (tw * tw).sum() * 0.1).backward()
        topt.step()
        popt.zero_grad()
        _loss(m, pw, px).backward()
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


def test_compiled_step_runs_eagerly_and_matches():
    w = pygrad.ones(4, 3, requires_grad=True)
    opt = pygrad.optim.NAdam([w], lr=0.1)
    x = pygrad.tensor(np.random.default_rng(2).standard_normal((6, 4)), dtype=pygrad.float32)

    def step():
        opt.zero_grad()
        loss = _loss(pygrad, w, x)
        loss.backward()
        opt.step()
        return loss

    compiled = pygrad.compile(step)
    with pytest.warns(CompileWarning, match="cannot record Tensor.numpy"):
        for _ in range(3):
            compiled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled()
    assert compiled.records == 0


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
