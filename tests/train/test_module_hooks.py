"""Module forward hooks and pre-hooks (PyTorch's ``register_forward_hook`` /
``register_forward_pre_hook``) on both engines, and how pygrad.compile treats them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pygrad
import pygrad.reference as ref
from pygrad._compile import CompileWarning
from pygrad.errors import PygradRuntimeError, PygradTypeError

ENGINES = [pytest.param(pygrad, id="c"), pytest.param(ref, id="ref")]


@pytest.mark.parametrize("m", ENGINES)
def test_hooks_see_and_replace_args_and_outputs(m):
    lin = m.nn.Linear(3, 2)
    x = m.tensor(np.arange(6.0).reshape(2, 3), dtype=m.float32)
    plain = lin(x).numpy()
    calls = []
    h1 = lin.register_forward_pre_hook(lambda mod, args: calls.append(("pre", mod is lin, args[0].shape)))
    h2 = lin.register_forward_hook(lambda mod, args, out: calls.append(("post", out.shape)))
    np.testing.assert_array_equal(lin(x).numpy(), plain)
    assert calls == [("pre", True, (2, 3)), ("post", (2, 2))]
    # a pre-hook's return replaces the args (one value or a tuple); a forward hook's the output
    h3 = lin.register_forward_pre_hook(lambda mod, args: args[0] * 2)
    h4 = lin.register_forward_hook(lambda mod, args, out: out + 1)
    np.testing.assert_allclose(lin(x).numpy(), lin.forward(x * 2).numpy() + 1, rtol=1e-6)
    for h in (h1, h2, h3, h4):
        h.remove()
        h.remove()  # idempotent
    calls.clear()
    np.testing.assert_array_equal(lin(x).numpy(), plain)
    assert calls == []


@pytest.mark.parametrize("m", ENGINES)
def test_hook_order_kwargs_and_gradients(m):
    net = m.nn.Sequential(m.nn.Linear(2, 2), m.nn.ReLU())
    order = []
    net.register_forward_hook(lambda mod, a, o: order.append("a"))
    net.register_forward_hook(lambda mod, a, o: order.append("b"))
    net.register_forward_hook(lambda mod, a, o: order.append("first"), prepend=True)
    x = m.tensor([[1.0, -1.0]], requires_grad=True)
    net(x)
    assert order == ["first", "a", "b"]

    class Scale(m.nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    s = Scale()
    s.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": kwargs.get("scale", 1.0) * 3}),
                                with_kwargs=True)
    seen = {}
    s.register_forward_hook(lambda mod, args, kwargs, out: seen.update(kwargs), with_kwargs=True)
    y = s(x, scale=2.0)
    np.testing.assert_array_equal(y.numpy(), [[6.0, -6.0]])
    assert seen == {"scale": 6.0}
    y.sum().backward()  # the hooks' changes are part of the graph
    np.testing.assert_array_equal(x.grad.numpy(), [[6.0, 6.0]])
    with m.nn.Linear(1, 1).register_forward_hook(lambda *a: None) as h:
        assert h.id >= 0
    with pytest.raises(PygradTypeError, match="register_forward_hook: expected a callable, got int"):
        net.register_forward_hook(3)
    bad = Scale()
    bad.register_forward_pre_hook(lambda mod, args, kwargs: 5, with_kwargs=True)
    with pytest.raises(PygradRuntimeError, match="must return None or \\(args, kwargs\\)"):
        bad(x)


def test_compile_runs_a_step_with_hooks_eagerly():
    net = pygrad.nn.Sequential(pygrad.nn.Linear(3, 4), pygrad.nn.ReLU(), pygrad.nn.Linear(4, 2))
    opt = pygrad.optim.SGD(net.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = net(x).sum()
        loss.backward()
        opt.step()
        return loss

    compiled = pygrad.compile(step)
    x = pygrad.ones(5, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            compiled(x)
    assert compiled.records == 1
    seen = []
    handle = net[0].register_forward_hook(lambda mod, a, out: seen.append(out.shape))
    with pytest.warns(CompileWarning, match="cannot record a forward hook of Linear"):
        for _ in range(3):
            compiled(x)
    assert seen == [(5, 4)] * 3  # a hook added after recording is called: the step runs eagerly
    handle.remove()
