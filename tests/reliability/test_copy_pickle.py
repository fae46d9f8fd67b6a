"""copy.copy, copy.deepcopy and pickle of Tensors (both engines), Modules and optimizers.

The C engine's Tensor once had no copy protocol: ``copy.copy`` duplicated the
C handle without a reference, and after ``del t`` the copy read freed memory
(a segfault), so that case runs in a child process.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from test_regressions import run_child

import pygrad as pg
import pygrad.nn as nn
import pygrad.optim as optim
import pygrad.reference as pr
import pygrad.reference.optim as roptim
from pygrad.errors import PygradRuntimeError

ENGINES = [pytest.param(pg, id="c"), pytest.param(pr, id="reference")]
WITH_OPTIM = [pytest.param(pg, optim, id="c"), pytest.param(pr, roptim, id="reference")]


def test_shallow_copy_of_a_c_tensor_outlives_the_original() -> None:
    out = run_child("""
        import copy, gc
        import pygrad as pg
        t = pg.tensor([1.0, 2.0, 3.0], requires_grad=True)
        c = copy.copy(t)
        del t
        gc.collect()
        junk = [pg.full((3,), 9.0) for _ in range(50)]  # would reuse a freed buffer
        print(c.tolist(), c.requires_grad)
        del c
        gc.collect()
        print("ok")
    """)
    assert out.split("\n")[:2] == ["[1.0, 2.0, 3.0] True", "ok"]


@pytest.mark.parametrize("E", ENGINES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "bool"])
def test_copy_shares_and_deepcopy_owns_the_values(E, dtype) -> None:
    rg = dtype != "bool"
    t = E.tensor(np.array([1, 0, 3]), dtype=dtype, requires_grad=rg)
    shallow, deep = copy.copy(t), copy.deepcopy(t)
    for c in (shallow, deep):
        assert type(c) is type(t) and c is not t
        assert c.dtype == t.dtype and c.shape == t.shape and c.requires_grad == rg and c.is_leaf
        np.testing.assert_array_equal(c.numpy(), t.numpy())
    with E.no_grad():
        t.fill_(0.0)
    np.testing.assert_array_equal(shallow.numpy(), t.numpy())  # shares storage
    np.testing.assert_array_equal(deep.numpy(), np.array([1, 0, 3]).astype(dtype))  # owns its data


@pytest.mark.parametrize("E", ENGINES)
def test_deepcopy_copies_grad_and_refuses_non_leaves(E) -> None:
    x = E.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    d = copy.deepcopy(x)
    np.testing.assert_array_equal(d.grad.numpy(), [2.0, 4.0])
    d.grad.numpy()[0] = 100.0
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert copy.copy(x).grad is None  # as PyTorch: a shallow copy has no grad
    y = x * 2
    with pytest.raises(PygradRuntimeError, match="deepcopy: only leaf tensors.*mul"):
        copy.deepcopy(y)
    np.testing.assert_array_equal(copy.deepcopy(y.detach()).numpy(), [2.0, 4.0])
    shared = [x, x]
    a, b = copy.deepcopy(shared)
    assert a is b  # the memo keeps sharing


@pytest.mark.parametrize("E", ENGINES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "bool"])
def test_pickle_round_trips_values_and_no_graph(E, dtype) -> None:
    rg = dtype != "bool"
    x = E.tensor(np.arange(6).reshape(2, 3) % 4, dtype=dtype, requires_grad=rg)
    y = x * 1 if rg else x
    for t in (x, y):
        u = pickle.loads(pickle.dumps(t))
        assert type(u) is type(x) and u.dtype == x.dtype and u.shape == (2, 3)
        assert u.is_leaf and u.grad_fn is None and u.grad is None and u.requires_grad == rg
        np.testing.assert_array_equal(u.numpy(), t.numpy())
    assert pickle.loads(pickle.dumps(E.tensor(2.5))).shape == ()


def _train(E, model, opt, x, steps):
    for _ in range(steps):
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()


@pytest.mark.parametrize("E,O", WITH_OPTIM)
@pytest.mark.parametrize("make", [lambda O, p: O.Adam(p, lr=0.05, amsgrad=True),
                                  lambda O, p: O.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
                                  lambda O, p: O.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
                                  lambda O, p: O.Adagrad(p, lr=0.05)], ids=["adam", "sgd", "rmsprop", "adagrad"])
def test_training_continues_identically_from_a_copy(E, O, make) -> None:
    rng = np.random.default_rng(5)
    model = nn.Sequential(nn.Linear(3, 8, engine=E), nn.Tanh(), nn.Linear(8, 2, engine=E))
    opt = make(O, model.parameters())
    x = E.tensor(rng.normal(size=(16, 3)))
    _train(E, model, opt, x, 3)  # the optimizer has state now
    copies = [copy.deepcopy((model, opt)), pickle.loads(pickle.dumps((model, opt)))]
    for m2, o2 in copies:
        params = list(m2.parameters())
        assert len(params) == 4 and all(p2 is not p for p2, p in zip(params, model.parameters()))
        assert [id(p) for p in o2.param_groups[0]["params"]] == [id(p) for p in params]
        assert set(o2.state) == {id(p) for p in params}
    _train(E, model, opt, x, 4)
    for m2, o2 in copies:
        _train(E, m2, o2, x, 4)
        for p, p2 in zip(model.parameters(), m2.parameters()):
            np.testing.assert_array_equal(p2.numpy(), p.numpy())  # bit for bit


@pytest.mark.parametrize("E", ENGINES)
def test_module_copies_keep_their_engine_and_own_their_parameters(E) -> None:
    m = nn.Linear(2, 3, engine=E)
    m2 = copy.deepcopy(m)
    assert m2._E is m._E and m2.weight is not m.weight and m2._parameters["weight"] is m2.weight
    with E.no_grad():
        m2.weight.fill_(0.0)
    assert np.any(m.weight.numpy() != 0)
    m3 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m3.weight.numpy(), m.weight.numpy())
    assert isinstance(m3(E.tensor([[1.0, 2.0]])), E.Tensor)


@pytest.mark.parametrize("E,O", WITH_OPTIM)
def test_a_scheduler_copied_with_its_optimizer_follows_the_copy(E, O) -> None:
    model = nn.Linear(2, 2, engine=E)
    opt = O.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = O.StepLR(opt, step_size=1, gamma=0.5)
    m2, o2, s2 = copy.deepcopy((model, opt, sched))
    assert s2.optimizer is o2
    s2.step()
    assert o2.param_groups[0]["lr"] == 0.05 and opt.param_groups[0]["lr"] == 0.1
    m3, o3, s3 = pickle.loads(pickle.dumps((model, opt, sched)))
    assert s3.optimizer is o3 and [id(p) for p in o3.param_groups[0]["params"]] == [id(p) for p in m3.parameters()]
