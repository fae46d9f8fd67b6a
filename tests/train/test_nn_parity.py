"""Training parity: the same small network trained for 50 steps in float64 on the C
engine and on the reference engine ends with the same parameters.

Both runs share the module code (pygrad.nn) but nothing numeric: the ops run on
each engine's own kernels and the updates on pygrad.optim's C kernels versus
pygrad.reference.optim's numpy.
"""

from __future__ import annotations

import numpy as np
import pytest

import pygrad as pg
import pygrad.reference as ref
from pygrad.nn import functional as F

STEPS = 50


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((64, 2))
    y = (np.arctan2(X[:, 1], X[:, 0]) > 0).astype(int) + (np.hypot(X[:, 0], X[:, 1]) > 1).astype(int)
    return X, y


def _mlp(m):
    return m.nn.MLP([2, 16, 16, 3], dtype="float64", generator=0)


def _mixed(m):
    nn = m.nn
    return nn.Sequential(nn.Linear(2, 8, dtype="float64", generator=1), nn.PReLU(8, dtype="float64"),
                         nn.Maxout(8, 6, pieces=3, dtype="float64", generator=2), nn.Tanh(),
                         nn.Linear(6, 3, dtype="float64", generator=3))


def _ce_l2(model, s, y):
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    return F.cross_entropy(s, y) + F.l2_regularization(weights, 1e-3)


def _svm_l1(model, s, y):
    return F.svm_loss(s, y) + F.l1_regularization(list(model.parameters()), 1e-4)


CASES = [
    ("mlp-ce-l2-sgd-momentum", _mlp, _ce_l2, "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("mlp-ce-l2-adam", _mlp, _ce_l2, "Adam", {"lr": 0.01}),
    ("mlp-svm-l1-nesterov", _mlp, _svm_l1, "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("prelu-maxout-ce-rmsprop", _mixed, _ce_l2, "RMSprop", {"lr": 0.01, "centered": True}),
    ("prelu-maxout-svm-adamw", _mixed, _svm_l1, "AdamW", {"lr": 0.01}),
    ("mlp-ce-adagrad-minibatch", _mlp, _ce_l2, "Adagrad", {"lr": 0.1}),
]


def _train(m, make, loss_fn, opt_name, kw, minibatch: bool):
    X, y = _data()
    model = make(m)
    opt = getattr(m.optim, opt_name)(model.parameters(), **kw)
    losses = []
    for k in range(STEPS):
        idx = np.arange(16 * (k % 4), 16 * (k % 4 + 1)) if minibatch else np.arange(len(y))
        opt.zero_grad()
        loss = loss_fn(model, model(m.tensor(X[idx])), y[idx])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model.state_dict(), losses


@pytest.mark.parametrize(("make", "loss_fn", "opt_name", "kw"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_training_parity(make, loss_fn, opt_name: str, kw: dict) -> None:
    minibatch = opt_name == "Adagrad"
    sd_c, loss_c = _train(pg, make, loss_fn, opt_name, kw, minibatch)
    sd_r, loss_r = _train(ref, make, loss_fn, opt_name, kw, minibatch)
    assert loss_c[-1] < loss_c[0]  # it trains
    np.testing.assert_allclose(loss_c, loss_r, rtol=1e-10)
    assert list(sd_c) == list(sd_r)
    for name in sd_c:
        np.testing.assert_allclose(sd_c[name], sd_r[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_training_loop_keeps_a_flat_memory_profile() -> None:
    """Every tensor and graph node of a training step is freed once the step is over."""
    import gc

    X, y = _data()
    model = _mixed(pg)
    opt = pg.optim.Adam(model.parameters(), lr=1e-2)

    def steps(n: int) -> None:
        for _ in range(n):
            opt.zero_grad()
            s = model(pg.tensor(X))
            loss = (F.cross_entropy(s, y) + F.svm_loss(s, y) + F.l2_regularization(list(model.parameters()), 1e-3)
                    + F.binary_cross_entropy_with_logits(s, np.ones(s.shape)) + F.mse_loss(s, np.zeros(s.shape)))
            loss.backward()
            opt.step()

    steps(3)  # the optimizer's state now exists
    gc.collect()
    before = pg.live_objects()
    steps(20)
    gc.collect()
    assert pg.live_objects() == before
